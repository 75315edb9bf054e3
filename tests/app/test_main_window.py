"""The main window, driven as a user would: menus, status bar, docks,
remembered layout, drag-and-drop and errors from opening a bad folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QUndoCommand
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel, QMessageBox

from app.main_window import MainWindow
from app.settings import Settings
from tests.app.test_viewport import to_array


def visible_message_boxes() -> list[QMessageBox]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]


def menu_texts(window: MainWindow) -> dict[str, list[str]]:
    out = {}
    for action in window.menuBar().actions():
        menu = action.menu()
        out[action.text().replace("&", "")] = [a.text().replace("&", "") for a in menu.actions() if a.text()]
    return out


def test_window_has_menus_status_bar_and_log(main_window: MainWindow, qtbot, artifacts: Path) -> None:
    menus = menu_texts(main_window)
    assert list(menus) == ["File", "Edit", "View", "Help"]
    for item in ("Open Capture…", "Open Scene…", "Recent", "Save", "Save As…", "Export", "Quit"):
        assert item in menus["File"]
    assert menus["Edit"][:2] == ["Undo", "Redo"]
    for item in ("Shaded", "Albedo", "Roughness", "Metallic", "Normal", "AO", "Wireframe", "Grid",
                 "Frame Object", "Snap to Capture Camera", "Panels"):
        assert item in menus["View"]
    assert main_window.action_frame.shortcut().toString() == "F"
    assert not main_window.action_save.isEnabled()
    assert main_window.statusBar().isVisible()
    qtbot.waitUntil(lambda: main_window.device is not None, timeout=10000)  # found off the GUI thread
    device = main_window.device_label.text()
    assert device == "CPU" or device.startswith("CUDA: ")
    assert isinstance(main_window.step_label, QLabel)
    docks = main_window.findChildren(QDockWidget)
    assert [d.windowTitle() for d in docks] == ["Log"] and docks[0].isVisible()
    main_window.grab().save(str(artifacts / "main_window.png"))
    image = main_window.viewport.grab_image()
    image.save(str(artifacts / "main_window_viewport.png"))
    assert to_array(image).std() > 3


def test_channel_menu_drives_viewport(main_window: MainWindow) -> None:
    main_window.channel_actions["normal"].trigger()
    assert main_window.viewport.channel == "normal"
    main_window.action_wireframe.trigger()
    assert main_window.viewport.wireframe
    main_window.action_grid.trigger()
    assert not main_window.viewport.grid


def test_undo_redo_shortcuts(main_window: MainWindow) -> None:
    values = []

    class Append(QUndoCommand):
        def redo(self) -> None:
            values.append(1)

        def undo(self) -> None:
            values.pop()

    main_window.undo_stack.push(Append("append"))
    assert values == [1] and main_window.action_undo.isEnabled()
    assert "Ctrl+Z" in [s.toString() for s in main_window.action_undo.shortcuts()]
    assert "Ctrl+Shift+Z" in [s.toString() for s in main_window.action_redo.shortcuts()]
    main_window.action_undo.trigger()
    assert values == []
    main_window.action_redo.trigger()
    assert values == [1]


def test_layout_and_recent_files_persist(qtbot, settings_file: Path, tmp_path: Path) -> None:
    first = MainWindow(Settings.at(settings_file))
    qtbot.addWidget(first)
    first.show()
    qtbot.waitExposed(first)
    first.resize(700, 480)
    first.log_dock.hide()
    qtbot.waitUntil(lambda: first.width() == 700)
    first.settings.add_recent(tmp_path)
    first.close()

    second = MainWindow(Settings.at(settings_file))
    qtbot.addWidget(second)
    second.show()
    qtbot.waitExposed(second)
    assert (second.width(), second.height()) == (700, 480)
    assert not second.log_dock.isVisible()
    second.recent_menu.aboutToShow.emit()
    assert str(tmp_path.resolve()) in [a.text() for a in second.recent_menu.actions()]
    second.close()


def _drop(window: MainWindow, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    pos = QPointF(window.width() / 2, window.height() / 2)
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)


def _expected_problem(folder: Path) -> str:
    from models.capture import load_capture
    from models.errors import CaptureError

    with pytest.raises(CaptureError) as info:
        load_capture(folder)
    return info.value.problem


def test_dropping_bad_folder_shows_error_and_window_stays_usable(
    main_window: MainWindow, qtbot, tmp_path: Path
) -> None:
    bad = tmp_path / "not_a_capture"
    bad.mkdir()
    (bad / "notes.txt").write_text("no cameras here")
    problem = _expected_problem(bad)

    _drop(main_window, bad)
    qtbot.waitUntil(lambda: bool(visible_message_boxes()), timeout=10000)
    (box,) = visible_message_boxes()
    text = box.text() + "\n" + box.informativeText()
    assert str(bad) in text and problem in text
    assert "Log" in [d.windowTitle() for d in main_window.findChildren(QDockWidget)]
    assert problem in main_window.log_panel.text()
    box.accept()
    qtbot.waitUntil(lambda: not visible_message_boxes())

    # Still usable: the viewport still answers the mouse and repaints.
    frames, yaw = main_window.viewport.frames_rendered, main_window.viewport.navigator.yaw
    vp, centre = main_window.viewport, main_window.viewport.rect().center()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseMove(vp, centre + QPoint(25, 0))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=centre + QPoint(25, 0))
    assert vp.navigator.yaw != yaw
    qtbot.waitUntil(lambda: vp.frames_rendered > frames, timeout=3000)
    assert main_window.capture is None and main_window.windowTitle() == "Relit"
    assert np.isfinite(vp.camera().c2w).all()


def test_the_device_is_found_off_the_gui_thread(qtbot, settings_file: Path, monkeypatch) -> None:
    import time

    import app.main_window as main_window_module

    monkeypatch.setattr(main_window_module, "device_description", lambda: (time.sleep(1.5), "CPU")[1])
    started = time.monotonic()
    window = MainWindow(Settings.at(settings_file))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.viewport.frames_rendered > 0, timeout=5000)
    assert time.monotonic() - started < 1.2, "the window paints before the device is known"
    assert window.device is None and window.device_label.text() == "…"
    qtbot.waitUntil(lambda: window.device == "CPU", timeout=5000)
    assert window.device_label.text() == "CPU"
    window.close()


def test_an_hdri_without_the_lighting_panel_says_so(main_window: MainWindow, tmp_path: Path) -> None:
    from models.imageio import save_hdr

    path = tmp_path / "sky.hdr"
    save_hdr(path, np.ones((8, 16, 3), np.float32))
    main_window.open_path(path)
    (box,) = visible_message_boxes()
    assert "sky.hdr" in box.text() and "Lighting panel" in box.informativeText()
    box.accept()


def test_open_file_that_is_neither_capture_nor_scene(main_window: MainWindow, qtbot, tmp_path: Path) -> None:
    junk = tmp_path / "photo.xyz"
    junk.write_text("?")
    main_window.open_path(junk)
    (box,) = visible_message_boxes()
    assert "photo.xyz" in box.text() and "not a capture folder" in box.informativeText()
    box.accept()


def make_tiny_capture(root: Path) -> Path:
    """A two-view NeRF-synthetic capture (+Z up, as Blender writes them)."""
    from PIL import Image

    from models.camera import Camera

    (root / "train").mkdir(parents=True)
    frames = []
    for i, eye in enumerate([(0.0, -4.0, 1.0), (4.0, 0.0, 1.5)]):
        cam = Camera.look_at(np.array(eye), np.zeros(3), np.array([0.0, 0.0, 1.0]), 16, 16, 0.7)
        Image.fromarray(np.full((16, 16, 4), 128, np.uint8)).save(root / "train" / f"r_{i}.png")
        frames.append({"file_path": f"./train/r_{i}", "transform_matrix": cam.c2w.tolist()})
    (root / "transforms_train.json").write_text(json.dumps({"camera_angle_x": 0.7, "frames": frames}))
    return root


def test_open_capture_in_background_then_snap_to_its_cameras(
    main_window: MainWindow, qtbot, tmp_path: Path, artifacts: Path
) -> None:
    folder = make_tiny_capture(tmp_path / "tiny")
    with qtbot.waitSignal(main_window.captureLoaded, timeout=10000):
        main_window.open_path(folder)
    capture = main_window.capture
    assert capture is not None and len(capture.views) == 2
    assert "tiny" in main_window.windowTitle()
    assert str(folder.resolve()) in main_window.settings.recent_files()
    np.testing.assert_allclose(main_window.viewport.navigator.up, [0, 0, 1])
    snaps = main_window.snap_menu.actions()
    assert main_window.snap_menu.isEnabled() and len(snaps) == 2
    snaps[1].trigger()
    view_cam = capture.views[1].camera
    np.testing.assert_allclose(main_window.viewport.camera().c2w, view_cam.c2w, atol=1e-6)
    assert main_window.viewport.camera().fov_y == pytest.approx(view_cam.fov_y)
    main_window.action_frame.trigger()
    np.testing.assert_allclose(main_window.viewport.navigator.target, capture.bounding_sphere()[0], atol=1e-9)
    snaps[0].trigger()
    main_window.grab().save(str(artifacts / "main_window_capture.png"))


def test_open_scene_folder_then_save_it_elsewhere(main_window: MainWindow, qtbot, tmp_path: Path) -> None:
    from models.lighting import Environment, Lighting
    from models.material import MaterialMaps
    from models.mesh import Mesh
    from models.scene import Scene
    from models.scene_io import SCENE_FILE, save_scene

    quad = Mesh.from_arrays(np.array([[-1, 0, -1], [1, 0, -1], [1, 0, 1], [-1, 0, 1]], np.float32),
                            np.array([[0, 2, 1], [0, 3, 2]]), uv=np.array([[0, 0], [1, 0], [1, 1], [0, 1]]))
    scene = Scene(quad, MaterialMaps.constant(4), Lighting(Environment.uniform(0.5, height=8)))
    save_scene(scene, tmp_path / "saved")
    assert not main_window.action_save.isEnabled()

    with qtbot.waitSignal(main_window.sceneLoaded, timeout=10000):
        _drop(main_window, tmp_path / "saved" / SCENE_FILE)  # the scene.json names its folder
    assert main_window.scene_path == tmp_path / "saved"
    assert main_window.action_save.isEnabled() and main_window.action_save_as.isEnabled()
    assert main_window.viewport.scene_radius == pytest.approx(np.sqrt(2), rel=1e-3)

    with qtbot.waitSignal(main_window.sceneSaved, timeout=10000):
        main_window.save_scene(tmp_path / "copy")
    assert (tmp_path / "copy" / SCENE_FILE).is_file()
    assert main_window.scene_path == tmp_path / "copy"
    assert str((tmp_path / "copy").resolve()) == main_window.settings.recent_files()[0]


def test_log_panel_shows_records_from_worker_threads(main_window: MainWindow, qtbot) -> None:
    import logging
    import threading

    worker = threading.Thread(target=lambda: logging.getLogger("relit.test").error("from a worker thread"))
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: "from a worker thread" in main_window.log_panel.text(), timeout=3000)


def test_settings_recent_files(settings_file: Path, tmp_path: Path) -> None:
    settings = Settings.at(settings_file)
    assert settings.recent_files() == [] and settings.window_geometry() is None
    for i in range(12):
        settings.add_recent(tmp_path / f"c{i}")
    settings.add_recent(tmp_path / "c5")
    files = Settings.at(settings_file).recent_files()  # read back from disk
    assert len(files) == 10 and files[0] == str((tmp_path / "c5").resolve())
    assert files.count(files[0]) == 1
    settings.clear_recent()
    settings.add_recent(tmp_path / "only")
    assert Settings.at(settings_file).recent_files() == [str((tmp_path / "only").resolve())]
