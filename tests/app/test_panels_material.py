"""The Material panel: channel views, global adjustments, a region edit by
clicking the object in the viewport; every edit undoes to the exact maps
and the exact pixels."""
# ruff: noqa: F811 - the fixtures imported from panels_support are test arguments

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor

from models.light_edits import project_to_pixel
from models.material_edits import Adjustment, apply_adjustment
from tests.app.panels_support import TEX, lit, panels, shoot, viewport_pixels  # noqa: F401 - fixtures


def test_channel_selector_drives_the_viewport_and_the_view_menu(lit) -> None:
    panel, window = lit.material, lit.sync.window
    panel.set_channel("roughness")
    assert window.viewport.channel == "roughness" and window.channel_actions["roughness"].isChecked()
    window.channel_actions["metallic"].trigger()
    assert panel.channel() == "metallic"


def test_global_adjustments_are_relative_to_their_start_and_undo_exactly(lit, qtbot) -> None:
    s, panel = lit.session, lit.material
    start = s.scene.material
    panel.sliders["hue"].set_by_user(120.0)
    qtbot.waitUntil(lambda: s.undo_stack.count() == 1, timeout=5000)
    hue_only = s.scene.material
    np.testing.assert_array_equal(hue_only.albedo, apply_adjustment(start, Adjustment(hue_shift=120.0)).albedo)
    assert hue_only.roughness is start.roughness
    panel.sliders["saturation"].set_by_user(0.5)
    panel.sliders["roughness_scale"].set_by_user(0.5)
    panel.sliders["roughness_offset"].set_by_user(0.1)
    qtbot.waitUntil(lambda: s.undo_stack.count() == 4, timeout=5000)
    expected = apply_adjustment(start, Adjustment(hue_shift=120.0, saturation=0.5, roughness_scale=0.5, roughness_offset=0.1))
    np.testing.assert_array_equal(s.scene.material.albedo, expected.albedo)
    np.testing.assert_allclose(s.scene.material.roughness, np.clip(start.roughness * 0.5 + 0.1, 0, 1), atol=1e-7)
    # Undo walks back through the slider gestures, and the sliders follow.
    for _ in range(3):
        s.undo_stack.undo()
    assert s.scene.material is hue_only
    assert panel.sliders["hue"].value() == pytest.approx(120.0) and panel.sliders["saturation"].value() == 1.0
    s.undo_stack.undo()
    assert s.scene.material is start and panel.sliders["hue"].value() == 0.0
    s.undo_stack.redo()
    assert s.scene.material is hue_only
    # Apply keeps it; the next adjustment starts from there.
    panel.apply_adjustment_now()
    assert panel.sliders["hue"].value() == 0.0
    panel.sliders["value"].set_by_user(0.5)
    qtbot.waitUntil(lambda: s.scene.material is not hue_only, timeout=5000)
    np.testing.assert_array_equal(s.scene.material.albedo, apply_adjustment(hue_only, Adjustment(value=0.5)).albedo)


def test_region_edit_by_clicking_the_object(lit, qtbot, artifacts: Path) -> None:
    s, panel, window = lit.session, lit.material, lit.sync.window
    vp = window.viewport
    start = s.scene
    before = viewport_pixels(lit)
    cam, dpr = vp.camera(), vp.devicePixelRatioF()
    # A point on the upper (red) hemisphere facing the camera, and one on the lower (blue).
    eye = cam.position / np.linalg.norm(cam.position)
    upper = eye * np.cos(0.6) + np.array([0.0, np.sin(0.6), 0.0])
    lower = eye * np.cos(0.6) - np.array([0.0, np.sin(0.6), 0.0])
    up_px = project_to_pixel(cam, upper / np.linalg.norm(upper))
    low_px = project_to_pixel(cam, lower / np.linalg.norm(lower))
    click = QPoint(round(up_px[0] / dpr), round(up_px[1] / dpr))
    qtbot.mouseClick(panel.pick_button, Qt.MouseButton.LeftButton)
    assert lit.tools.mode == "pick_region"
    with qtbot.waitSignal(panel.regionChanged, timeout=5000) as picked:
        qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=click)
    region = picked.args[0]
    rows = np.arange(TEX)[:, None] < TEX // 2
    assert region is not None and region.any()
    assert (region == np.broadcast_to(rows, region.shape)).all()  # exactly the red upper half, nothing of the blue
    assert s.scene is start  # selecting changes nothing yet
    panel.albedo_button.choose(QColor(40, 220, 60))
    edited = s.scene.material
    assert np.abs(edited.albedo[rows[:, 0]] - edited.albedo[rows[:, 0]][0, 0]).max() < 1e-6
    assert edited.albedo[0, 0, 1] > 0.6 and edited.albedo[0, 0, 0] < 0.05
    np.testing.assert_array_equal(edited.albedo[~rows[:, 0]], start.material.albedo[~rows[:, 0]])
    assert edited.roughness is start.material.roughness
    panel.roughness_spin.setValue(0.1)
    panel.set_region_values(roughness=panel.roughness_spin.value())
    assert np.allclose(s.scene.material.roughness[rows[:, 0]], 0.1)
    after = viewport_pixels(lit)
    ux, uy = int(up_px[0]), int(up_px[1])
    lx, ly = int(low_px[0]), int(low_px[1])
    assert np.abs(after[uy, ux] - before[uy, ux]).max() > 30  # the clicked region changed colour
    assert np.abs(after[ly, lx] - before[ly, lx]).max() <= 2  # the other material did not
    shoot(panel, artifacts, "panel_material_region")
    shoot(window, artifacts, "panel_material_window")
    s.undo_stack.undo()
    s.undo_stack.undo()
    assert s.scene is start
    assert np.abs(viewport_pixels(lit) - before).max() <= 1.0  # undo restores the exact pixels
    # A click that misses the object selects nothing.
    with qtbot.waitSignal(lit.tools.pickMissed, timeout=5000):
        qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=QPoint(3, 3))
