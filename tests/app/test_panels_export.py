"""The Export dialog writes files that reopen: a PNG with alpha that matches
an offscreen render of the same view, an EXR, a turntable, every capture
view, and the asset (scene.glb loads with trimesh)."""
# ruff: noqa: F811 - the fixtures imported from panels_support are test arguments

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from models.capture import load_capture
from models.exports import camera_at_resolution, video_writer
from models.imageio import load_image
from tests.app.panels_support import (  # noqa: F401 - fixtures
    SAMPLE_CAPTURE,
    lit,
    panels,
    render_offscreen_in_worker,
    shoot,
)


def run(dialog, qtbot, timeout: int = 120000) -> list[Path]:
    with qtbot.waitSignal(dialog.exportFinished, timeout=timeout) as done:
        assert dialog.start()
    return done.args[0]


def test_export_current_view_png_with_alpha_matches_offscreen(lit, qtbot, tmp_path: Path, artifacts: Path) -> None:
    window = lit.sync.window
    assert lit.export_action in window.export_menu.actions() and lit.export_action.isEnabled()
    lit.export_action.trigger()
    dialog = lit.export_dialog
    assert dialog is not None and dialog.isVisible()
    writer, _ = video_writer()
    dialog.set_kind("turntable")
    assert dialog.video_check.isEnabled() == (writer is not None)
    if writer is None:
        assert "imageio-ffmpeg" in dialog.video_check.toolTip()
    dialog.set_kind("view")
    dialog.width_spin.setValue(160)
    dialog.height_spin.setValue(120)
    dialog.exr_check.setChecked(True)
    dialog.folder_edit.setText(str(tmp_path / "view"))
    shoot(dialog, artifacts, "panel_export_dialog")
    files = run(dialog, qtbot)
    assert sorted(p.name for p in files) == ["render.exr", "render.png"]
    png = load_image(tmp_path / "view" / "render.png")
    assert png.shape == (120, 160, 4)
    alpha = png[..., 3]
    assert alpha.min() == 0.0 and alpha.max() == 1.0 and 0.1 < (alpha > 0.5).mean() < 0.9  # object on a clear background
    assert dialog.antialias_combo.currentData() == 2  # anti-aliased by default: soft silhouette
    edge = (alpha > 0.05) & (alpha < 0.95)
    assert 0.002 < edge.mean() < 0.05
    # The same view rendered offscreen directly.
    from dataclasses import replace

    camera = camera_at_resolution(window.viewport.camera(), 160, 120)
    scene = lit.session.scene
    reference = render_offscreen_in_worker(  # a standalone context never goes current on the GUI thread
        replace(scene, display=replace(scene.display, background="transparent")), camera, 160, 120, supersample=2)
    assert np.abs((alpha > 0.4).astype(float) - (reference[..., 3] > 0.4)).mean() < 0.002  # PNG rounds 0.5 up
    from models.imageio import srgb_to_linear

    covered = (alpha > 0.99) & (reference[..., 3] > 0.99)
    ref_linear = srgb_to_linear(np.clip(reference[..., :3], 0, 1))
    assert np.abs(png[..., :3][covered] - ref_linear[covered]).max() < 0.02
    exr = load_image(tmp_path / "view" / "render.exr")
    assert exr.shape == (120, 160, 4) and np.isfinite(exr).all() and exr[..., :3][covered].mean() > 0.01
    dialog.close()


def test_export_turntable_captures_asset_and_cancel(lit, qtbot, tmp_path: Path) -> None:
    import trimesh

    dialog = lit.open_export_dialog()
    dialog.set_kind("turntable")
    dialog.width_spin.setValue(64)
    dialog.height_spin.setValue(48)
    dialog.frames_spin.setValue(4)
    dialog.folder_edit.setText(str(tmp_path / "turn"))
    files = run(dialog, qtbot)
    assert [p.name for p in files] == [f"turntable_{k:04d}.png" for k in range(4)]
    frames = [load_image(p) for p in files]
    assert np.abs(frames[0] - frames[1]).mean() > 1e-3  # the view turns

    if (SAMPLE_CAPTURE / "transforms.json").is_file():
        lit.session.capture = load_capture(SAMPLE_CAPTURE)
        dialog._kind_changed()
        assert dialog.kind_buttons["captures"].isEnabled()
        dialog.set_kind("captures")
        dialog.scale_spin.setValue(0.25)
        dialog.folder_edit.setText(str(tmp_path / "views"))
        files = run(dialog, qtbot)
        assert len(files) == len(lit.session.capture.views)
        assert load_image(files[0]).shape == (64, 64, 4)

    dialog.set_kind("asset")
    dialog.folder_edit.setText(str(tmp_path / "asset"))
    files = run(dialog, qtbot)
    assert sorted(p.name for p in files) == ["environment.hdr", "scene.glb", "scene.json"]
    loaded = trimesh.load(tmp_path / "asset" / "scene.glb", force="mesh")
    assert len(loaded.faces) == len(lit.session.scene.mesh.faces)
    env = load_image(tmp_path / "asset" / "environment.hdr")
    assert env.shape == lit.session.scene.lighting.environment.radiance.shape

    dialog.set_kind("turntable")
    dialog.frames_spin.setValue(400)
    dialog.folder_edit.setText(str(tmp_path / "cancelled"))
    with qtbot.waitSignal(dialog.exportFinished, timeout=120000) as done:
        dialog.start()
        qtbot.waitUntil(lambda: dialog.progress_bar.value() > 0, timeout=60000)
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert 0 < len(done.args[0]) < 400 and "Cancelled" in dialog.status_label.text()
    dialog.close()


def test_export_needs_a_scene_and_a_format(panels, qtbot, tmp_path: Path) -> None:
    dialog = panels.open_export_dialog()
    dialog.folder_edit.setText(str(tmp_path))
    assert not dialog.start() and "Nothing to export" in dialog.status_label.text()
    from tests.app.panels_support import two_tone_scene

    panels.session.new_document(two_tone_scene())
    dialog.png_check.setChecked(False)
    assert not dialog.start() and "at least one format" in dialog.status_label.text()
    dialog.close()
    _ = pytest
