"""The fit runs off the GUI thread: a short real fit of the sample capture
streams snapshots into the loss plot; pause, resume and cancel from the Fit
panel work, and a cancelled fit keeps its state."""
# ruff: noqa: F811 - the fixtures imported from panels_support are test arguments

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from app.fit_worker import FitRunner, fitter_factory
from app.panels.loss_plot import LossPlot
from app.panels.view_compare import ComparePanel
from models.capture import load_capture
from tests.app.panels_support import SAMPLE_CAPTURE, fast_fit_config, panels, shoot  # noqa: F401 - fixture

pytestmark = pytest.mark.skipif(not (SAMPLE_CAPTURE / "transforms.json").is_file(), reason="no bundled sample capture")


def test_worker_runs_a_short_fit_and_the_plot_gains_points(qtbot, qapp, artifacts: Path) -> None:
    capture = load_capture(SAMPLE_CAPTURE)
    runner = FitRunner()
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(520, 360)
    plot.show()
    batches, results, errors, scenes, views = [], [], [], [], []
    runner.snapshots.connect(plot.add_snapshots)
    runner.snapshots.connect(batches.append)
    runner.result.connect(lambda scene, state: results.append((scene, state)))
    runner.viewErrors.connect(errors.append)
    runner.sceneUpdated.connect(scenes.append)
    runner.viewsReady.connect(views.append)
    with qtbot.waitSignal(runner.stopped, timeout=180000):
        runner.start(fitter_factory(capture, fast_fit_config(iterations=8)))
    snapshots = [p for batch in batches for p in batch]
    steps = [p.step for p in snapshots if p.state == "running"]
    assert steps == list(range(1, 9))  # every step arrives, in order, none dropped by the throttle
    assert len(batches) <= len(snapshots)
    assert snapshots[-1].state == "finished" and snapshots[-1].preview is not None
    assert all(p.losses and p.total > 0 for p in snapshots)
    (scene, state), = results
    assert state == "finished" and scene.lighting.environment.name == "recovered"
    assert scene.metadata["fit"]["steps"] == 8
    assert len(views) == 1 and len(views[0]) == 2 and views[0][0].image.shape[:2] == (64, 64)
    assert len(errors) == 1 and len(errors[0]) == 2 and all(e.pixels > 0 and e.psnr > 10 for e in errors[0])
    plot.flush()
    assert plot.point_count == 8
    assert {"l1", "albedo_smoothness"} <= set(plot.terms())
    # The second starting metallic began after the first's trial (2 steps),
    # and the better of the two went on after step 4: where the start
    # changes, the curves break under a marker.
    assert [p.step for p in snapshots if p.message.startswith("starting again")] == [2]
    going_on = [p for p in snapshots if p.message.startswith("going on with the start")]
    assert [p.step for p in going_on] == [4]
    breaks = [2.5] + ([4.5] if going_on[0].start == 0 else [])
    x, y = plot.curves["total"].getData()
    assert list(x) == sorted([*range(1, 9), *breaks])
    assert np.isnan(y[np.isin(x, breaks)]).all() and np.isfinite(y[~np.isin(x, breaks)]).all()
    assert [line.value() for line in plot.start_lines] == [b for b in breaks for _ in (0, 1)]
    shoot(plot, artifacts, "panel_loss_plot")
    # The Photos tab takes the views and the scores and compares photo and render.
    from app.session import Session

    session = Session(autosave_interval_s=0, recovery_root=artifacts / "unused-recovery")
    session.new_document(scene)
    compare = ComparePanel(session)
    qtbot.addWidget(compare)
    compare.resize(520, 420)
    compare.show()
    compare.set_views(views[0])
    compare.set_errors(errors[0])
    assert compare.table.rowCount() == 2 and compare.table.worst().psnr == min(e.psnr for e in errors[0])
    compare.mode_combo.setCurrentIndex(1)  # split
    compare.table.selectRow(0)
    qtbot.waitUntil(lambda: compare.view.render is not None, timeout=60000)
    assert compare.view.photo is not None and compare.view.mode == "split"
    shoot(compare, artifacts, "panel_compare_split")
    compare.service.wait()
    session.close()


def test_a_fit_cancelled_while_it_prepares_stops_there(panels, qtbot, artifacts: Path) -> None:
    """Cancel while the fit bakes AO and its specular visibility (minutes on
    a large mesh, and a closing window waits for the fit): the bake stops,
    the fit ends with nothing fitted, and the panel says so; the document
    stays."""
    from models.fitter import Fitter
    from tests.models.test_fitter import ball_on_floor, small_config

    mesh, views = ball_on_floor(1.0625)

    def make(on_progress, cancel, pause) -> Fitter:
        fitter = Fitter(views, mesh, small_config(iterations=2, specular_visibility=True),
                        on_progress=on_progress, cancel_event=cancel, pause_event=pause)
        cancel.set()  # the user cancels while it prepares (FitRunner.cancel sets this event)
        return fitter

    results = []
    panels.runner.result.connect(lambda scene, state: results.append((scene, state)))
    before = panels.session.scene
    with qtbot.waitSignal(panels.runner.stopped, timeout=60000):
        panels.session.begin_fit()
        panels.runner.start(make, score_views=False)
    assert results == [(None, "cancelled")]
    assert panels.session.scene is before and not panels.session.fitting
    assert "Cancelled while preparing" in panels.fit.progress_bar.format()
    shoot(panels.fit, artifacts, "panel_fit_cancelled_preparing")


def test_pause_resume_cancel_from_the_panel_keeps_state(panels, qtbot, artifacts: Path) -> None:
    window = panels.sync.window
    fit, runner, session = panels.fit, panels.runner, panels.session
    assert not fit.start_button.isEnabled()  # no capture yet
    with qtbot.waitSignal(window.captureLoaded, timeout=30000):
        window.open_capture(SAMPLE_CAPTURE)
    assert session.capture is not None and fit.start_button.isEnabled()
    assert not fit.geometry_combo.isEnabled()  # the sample capture has its mesh
    previews = []
    session.previewScene.connect(previews.append)
    fit.set_config(fast_fit_config(iterations=400))
    assert fit.config().iterations == 400 and fit.config().texture_resolution == 32
    assert fit.starts_combo.currentText() == "0.6, then 0.45 (best kept)" and fit.config().metallic_starts == (0.6, 0.45)
    fit.starts_combo.setCurrentIndex(1)
    assert fit.starts_combo.currentText() == "0.6 only" and fit.config().metallic_starts == (0.6,)
    fit.set_config(fast_fit_config(iterations=400, initial_metallic=0.3, metallic_trials=(0.7,)))
    assert fit.starts_combo.currentText() == "0.3, then 0.7 (best kept)" and fit.config().metallic_starts == (0.3, 0.7)
    fit.set_config(fast_fit_config(iterations=400))
    qtbot.mouseClick(fit.start_button, qtbot_left())
    assert runner.running and session.fitting and not fit.start_button.isEnabled()
    assert not panels.material.sliders["hue"].isEnabled()  # edits wait for the fit
    qtbot.waitUntil(lambda: fit.last_progress is not None and fit.last_progress.step >= 3, timeout=120000)
    qtbot.waitUntil(lambda: bool(previews), timeout=60000)  # the viewport shows the fit as it goes
    assert previews[-1].lighting.environment.name == "recovered" and session.scene is None
    qtbot.mouseClick(fit.pause_button, qtbot_left())
    qtbot.waitUntil(lambda: runner.state == "paused", timeout=30000)
    assert fit.resume_button.isEnabled() and not fit.pause_button.isEnabled()
    paused_at = fit.last_progress.step
    qtbot.wait(600)
    assert fit.last_progress.step == paused_at and runner.worker.fitter.step_count == paused_at
    assert "paused" in window.step_label.text()
    window.viewport.grab_image()
    shoot(window, artifacts, "panel_fit_paused")
    qtbot.mouseClick(fit.resume_button, qtbot_left())
    qtbot.waitUntil(lambda: fit.last_progress.step >= paused_at + 2, timeout=60000)
    assert panels.loss.plot.point_count >= paused_at + 2
    with qtbot.waitSignal(runner.stopped, timeout=60000):
        qtbot.mouseClick(fit.cancel_button, qtbot_left())
    scene = session.scene
    assert scene is not None and window.scene is scene  # the cancelled fit's last state is the document
    steps = scene.metadata["fit"]["steps"]
    assert paused_at + 2 <= steps < 400 and scene.metadata["fit"]["state"] == "cancelled"
    assert scene.lighting.environment.name == "recovered"
    assert "Cancelled" in fit.progress_bar.format() and "cancelled" in session.undo_stack.undoText()
    assert fit.start_button.isEnabled() and not session.fitting
    assert panels.material.sliders["hue"].isEnabled()
    panels.loss.plot.flush()
    window.viewport.grab_image()
    shoot(window, artifacts, "panel_fit_cancelled")
    shoot(fit, artifacts, "panel_fit")
    # The lighting panel now offers the recovered environment.
    assert panels.lighting.hdri_list.item(0).text().startswith("Recovered")


def qtbot_left():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def test_progress_text_and_durations() -> None:
    from app.panels.fit_panel import format_duration, progress_text
    from models.fit_progress import FitProgress

    assert format_duration(42) == "0:42" and format_duration(3723) == "1:02:03" and format_duration(float("nan")) == "–"
    p = FitProgress(step=120, total_steps=3000, losses={"l1": 0.1}, total=0.1, psnr=31.2, elapsed_s=10, eta_s=83)
    assert progress_text(p) == "Fit step 120/3000 · 31.2 dB · ETA 1:23"
    second = FitProgress(step=1600, total_steps=3000, losses={}, total=0.1, psnr=31.2, elapsed_s=10, eta_s=83,
                         start=1, starts=2)
    assert progress_text(second) == "Fit step 1600/3000 · start 2 of 2 · 31.2 dB · ETA 1:23"
    _ = time  # keep the import for debugging waits
