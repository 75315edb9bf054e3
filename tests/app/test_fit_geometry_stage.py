"""A capture with photos and poses only: the GUI's fit reconstructs the
geometry first and the loss plot shows that stage (steps -N..0) before the
material fit's (issue 6, item 4)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from app.fit_worker import FitRunner, fitter_factory
from app.panels.loss_plot import LossPlot
from models.capture import load_capture
from tests.app.panels_support import SAMPLE_CAPTURE, fast_fit_config, shoot

pytestmark = pytest.mark.skipif(not (SAMPLE_CAPTURE / "transforms.json").is_file(), reason="no bundled sample capture")


def test_mesh_less_capture_is_reconstructed_then_fitted(qtbot, tmp_path: Path, artifacts: Path) -> None:
    folder = tmp_path / "capture"
    (folder / "images").mkdir(parents=True)
    doc = json.loads((SAMPLE_CAPTURE / "transforms.json").read_text())
    doc["frames"] = doc["frames"][::3]
    for frame in doc["frames"]:
        shutil.copy(SAMPLE_CAPTURE / frame["file_path"], folder / frame["file_path"])
    (folder / "transforms.json").write_text(json.dumps(doc))
    capture = load_capture(folder)
    assert capture.mesh_path is None

    runner, plot = FitRunner(), LossPlot()
    qtbot.addWidget(plot)
    plot.resize(520, 360)
    plot.show()
    batches, results = [], []
    runner.snapshots.connect(plot.add_snapshots)
    runner.snapshots.connect(batches.append)
    runner.result.connect(lambda scene, state: results.append((scene, state)))
    with qtbot.waitSignal(runner.stopped, timeout=240000):
        runner.start(fitter_factory(capture, fast_fit_config(iterations=6), fast_geometry=True), score_views=False)

    snapshots = [p for batch in batches for p in batch]
    geometry = [p for p in snapshots if p.stage == "geometry" and p.losses]
    materials = [p for p in snapshots if p.stage == "materials"]
    assert geometry and materials
    assert all(p.step <= 0 for p in geometry) and all(p.step > 0 for p in materials)
    assert snapshots.index(geometry[-1]) < snapshots.index(materials[0])  # geometry first
    assert 0.0 <= geometry[0].fraction <= geometry[-1].fraction <= 1.0
    (scene, state), = results
    assert state == "finished" and len(scene.mesh.faces) > 100
    plot.flush()
    assert any(t.startswith("geometry ") for t in plot.terms()) and "l1" in plot.terms()
    assert plot.point_count >= len({p.step for p in geometry}) + 6
    shoot(plot, artifacts, "panel_loss_plot_geometry")
