"""A capture with photos and poses only: the GUI's fit reconstructs the
geometry first and the loss plot shows that stage (steps -N..0) before the
material fit's (issue 6, item 4), started from the Fit panel."""

# ruff: noqa: F811 - the fixtures imported from panels_support are test arguments

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from models.capture import load_capture
from tests.app.panels_support import SAMPLE_CAPTURE, fast_fit_config, panels, shoot  # noqa: F401 - fixture

pytestmark = pytest.mark.skipif(not (SAMPLE_CAPTURE / "transforms.json").is_file(), reason="no bundled sample capture")


def test_mesh_less_capture_is_reconstructed_then_fitted(panels, qtbot, tmp_path: Path, artifacts: Path) -> None:
    folder = tmp_path / "capture"
    (folder / "images").mkdir(parents=True)
    doc = json.loads((SAMPLE_CAPTURE / "transforms.json").read_text())
    doc["frames"] = doc["frames"][::3]
    for frame in doc["frames"]:
        shutil.copy(SAMPLE_CAPTURE / frame["file_path"], folder / frame["file_path"])
    (folder / "transforms.json").write_text(json.dumps(doc))
    assert load_capture(folder).mesh_path is None

    window, fit, runner, plot = panels.sync.window, panels.fit, panels.runner, panels.loss.plot
    with qtbot.waitSignal(window.captureLoaded, timeout=30000):
        window.open_capture(folder)
    assert fit.start_button.isEnabled() and "reconstruct" in fit.start_button.toolTip()
    assert fit.geometry_combo.isEnabled()  # only a mesh-less capture has a geometry choice
    fit.set_config(fast_fit_config(iterations=6))
    fit.geometry_combo.setCurrentIndex(fit.geometry_combo.findData(True))  # fast geometry
    fit.score_check.setChecked(False)
    batches, results = [], []
    runner.snapshots.connect(batches.append)
    runner.result.connect(lambda scene, state: results.append((scene, state)))
    with qtbot.waitSignal(runner.stopped, timeout=240000):
        qtbot.mouseClick(fit.start_button, Qt.MouseButton.LeftButton)

    snapshots = [p for batch in batches for p in batch]
    geometry = [p for p in snapshots if p.stage == "geometry" and p.losses]
    materials = [p for p in snapshots if p.stage == "materials"]
    assert geometry and materials
    assert all(p.step <= 0 for p in geometry) and all(p.step > 0 for p in materials)
    assert snapshots.index(geometry[-1]) < snapshots.index(materials[0])  # geometry first
    assert 0.0 <= geometry[0].fraction <= geometry[-1].fraction <= 1.0
    (scene, state), = results
    assert state == "finished" and len(scene.mesh.faces) > 100
    assert panels.session.scene is not None and len(panels.session.scene.mesh.faces) > 100  # the document
    plot.flush()
    assert any(t.startswith("geometry ") for t in plot.terms()) and "l1" in plot.terms()
    assert plot.point_count >= len({p.step for p in geometry}) + 6
    shoot(plot, artifacts, "panel_loss_plot_geometry")
