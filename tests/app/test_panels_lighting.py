"""The Lighting panel and viewport tools change the right Scene values,
change the viewport's pixels, and undo restores the exact previous state."""
# ruff: noqa: F811 - the fixtures imported from panels_support are test arguments

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from models import scene_params as sp
from models.hdri_library import bundled_presets
from models.imageio import save_hdr
from models.light_edits import project_to_pixel
from tests.app.panels_support import (  # noqa: F401 - fixtures
    lit,
    panels,
    shoot,
    sky_environment,
    viewport_pixels,
)

frame = viewport_pixels


def write_hdri(path: Path, warm: bool = True) -> Path:
    env = sky_environment(16).radiance
    if warm:
        env = env * np.array([1.6, 0.7, 0.3], np.float32)
    save_hdr(path, env)
    return path


def test_environment_controls_set_values_and_undo_exactly(lit, qtbot, artifacts: Path) -> None:
    s, panel = lit.session, lit.lighting
    start = s.scene
    before = frame(lit)
    panel.rotation.set_by_user(90.0)
    assert s.scene.lighting.environment.rotation_deg == pytest.approx(90.0)
    after = frame(lit)
    assert np.abs(after - before).mean() > 1.0  # the sun moved: other pixels
    panel.exposure.set_by_user(-1.5)
    panel.strength.set_by_user(2.0)
    panel.blur.set_by_user(0.4)
    panel.background_check.setChecked(False)
    scene = s.scene
    env = scene.lighting.environment
    assert (env.exposure_ev, env.strength) == (pytest.approx(-1.5), pytest.approx(2.0))
    assert env.scale == pytest.approx(2.0 * 2**-1.5)
    assert scene.display.background == "color" and scene.display.background_blur == pytest.approx(0.4)
    assert scene.material is start.material  # nothing else touched
    assert s.undo_stack.count() == 5
    shoot(panel, artifacts, "panel_lighting_environment")
    while s.undo_stack.canUndo():
        s.undo_stack.undo()
    assert s.scene is start
    assert panel.rotation.value() == 0.0 and panel.background_check.isChecked()  # the widgets follow the model
    assert np.abs(frame(lit) - before).max() <= 1.0  # the exact pixels come back


def test_hdri_library_folder_file_and_errors(lit, qtbot, tmp_path: Path) -> None:
    s, panel = lit.session, lit.lighting
    names = [panel.hdri_list.item(i).data(Qt.ItemDataRole.UserRole).name for i in range(panel.hdri_list.count())]
    assert names[: len(bundled_presets())] == [e.name for e in bundled_presets()]
    folder = tmp_path / "hdris"
    folder.mkdir()
    write_hdri(folder / "warm_sky.hdr")
    panel.add_folder(folder)
    items = [panel.hdri_list.item(i) for i in range(panel.hdri_list.count())]
    warm = next(i for i in items if i.data(Qt.ItemDataRole.UserRole).name == "warm_sky")
    panel.rotation.set_by_user(30.0)
    before_swap = s.scene
    with qtbot.waitSignal(panel.environmentLoaded, timeout=20000):
        panel.hdri_list.itemClicked.emit(warm)
    env = s.scene.lighting.environment
    assert env.name == "warm_sky" and env.rotation_deg == pytest.approx(30.0)  # settings carry over
    assert env.radiance[..., 0].mean() > env.radiance[..., 2].mean()
    s.undo_stack.undo()
    assert s.scene is before_swap
    panel.wait()
    qtbot.waitUntil(lambda: not warm.icon().isNull(), timeout=10000)  # its thumbnail arrived
    bad = tmp_path / "square.hdr"
    save_hdr(bad, np.ones((8, 8, 3), np.float32))
    with qtbot.waitSignal(panel.loadFailed, timeout=20000) as failed:
        panel.load_file(bad)
    title, path, problem = failed.args
    assert path == bad and "twice the height" in problem and "square.hdr" in panel.error_label.text()
    assert s.scene is before_swap  # a bad file changes nothing
    for box in QApplication.topLevelWidgets():  # the window's error box
        if box.isVisible() and box.windowTitle() == title:
            box.close()


def test_dropping_an_hdri_on_the_viewport_uses_it(lit, qtbot, tmp_path: Path) -> None:
    path = write_hdri(tmp_path / "dropped.hdr")
    vp = lit.sync.window.viewport
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(lit.lighting.environmentLoaded, timeout=20000):
        QApplication.sendEvent(vp, event)
    assert lit.session.scene.lighting.environment.name == "dropped"


def test_lights_add_edit_remove_and_undo(lit, qtbot, artifacts: Path) -> None:
    s, panel = lit.session, lit.lighting
    start = s.scene
    before = frame(lit)
    for kind in ("point", "directional", "spot"):
        qtbot.mouseClick(panel.add_buttons[kind], Qt.MouseButton.LeftButton)
    lights = s.scene.lighting.lights
    assert [l.kind for l in lights] == ["point", "directional", "spot"] and panel.light_list.count() == 3
    assert panel.selected_light == 2
    assert np.abs(frame(lit) - before).mean() > 0.5  # the lights show
    panel.select_light(0)
    panel.intensity_spin.setValue(42.0)
    panel.color_button.choose(QColor(255, 128, 0))
    panel.position_spins[1].setValue(3.5)
    light = s.scene.lighting.lights[0]
    assert light.intensity == 42.0 and light.position[1] == 3.5
    assert light.color[0] == pytest.approx(1.0) and light.color[1] == pytest.approx(0.2158605, abs=1e-4)  # sRGB 128 -> linear
    panel.select_light(2)
    panel.outer_spin.setValue(20.0)
    assert s.scene.lighting.lights[2].outer_cone == pytest.approx(math.radians(20.0))
    panel.select_light(1)
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    assert [l.kind for l in s.scene.lighting.lights] == ["point", "spot"]
    lit.sync.window.viewport.grab_image()
    shoot(lit.sync.window, artifacts, "panel_lighting_lights_window")
    shoot(panel, artifacts, "panel_lighting_lights")
    while s.undo_stack.canUndo():
        s.undo_stack.undo()
    assert s.scene is start and panel.light_list.count() == 0


def test_dragging_a_light_and_turning_the_environment_in_the_viewport(lit, qtbot) -> None:
    s, panel, tools = lit.session, lit.lighting, lit.tools
    vp = lit.sync.window.viewport
    panel.add_light("point")
    added = s.scene
    panel.move_button.setChecked(True)
    assert tools.mode == "move_light"
    cam = vp.camera()
    dpr = vp.devicePixelRatioF()
    start = np.array(s.scene.lighting.lights[0].position)
    px = project_to_pixel(cam, start)
    assert px is not None and 0 <= px[0] < cam.width and 0 <= px[1] < cam.height, "the new light is on screen"
    grab = QPoint(round(px[0] / dpr), round(px[1] / dpr))
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=grab)
    for step in range(1, 6):
        qtbot.mouseMove(vp, grab + QPoint(-8 * step, 6 * step))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=grab + QPoint(-40, 30))
    moved = np.array(s.scene.lighting.lights[0].position)
    assert np.linalg.norm(moved - start) > 0.1
    assert (moved - start) @ cam.forward == pytest.approx(0.0, abs=1e-6)  # on the view-facing plane
    new_px = project_to_pixel(cam, moved)
    assert new_px[0] / dpr == pytest.approx(grab.x() - 40, abs=1.0) and new_px[1] / dpr == pytest.approx(grab.y() + 30, abs=1.0)
    assert s.undo_stack.undoText().startswith("Move light")
    s.undo_stack.undo()
    assert s.scene is added  # the whole drag is one undo step
    panel.move_button.setChecked(False)
    # Ctrl + drag turns the environment.
    centre = QPoint(vp.width() // 2, vp.height() // 2)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, centre)
    qtbot.mouseMove(vp, centre + QPoint(vp.width() // 8, 0))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, centre + QPoint(vp.width() // 8, 0))
    assert s.scene.lighting.environment.rotation_deg == pytest.approx(45.0, abs=1.0)
    assert s.scene.lighting.lights == added.lighting.lights
    assert sp.get_value(s.scene, sp.ENV_ROTATION) == s.scene.lighting.environment.rotation_deg


def test_an_hdri_dropped_anywhere_on_the_window_becomes_the_environment(lit, qtbot, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QMessageBox

    path = write_hdri(tmp_path / "dropped_on_a_dock.hdr")
    window = lit.sync.window
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    pos = QPointF(window.width() - 20, window.height() - 40)  # over the docks, not the viewport
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(lit.lighting.environmentLoaded, timeout=20000):
        QApplication.sendEvent(window, drop)
    assert lit.session.scene.lighting.environment.name == "dropped_on_a_dock"
    assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
    # File ▸ Open of an .hdr (open_path) takes the same way.
    other = write_hdri(tmp_path / "opened.hdr", warm=False)
    with qtbot.waitSignal(lit.lighting.environmentLoaded, timeout=20000):
        window.open_path(other)
    assert lit.session.scene.lighting.environment.name == "opened"
