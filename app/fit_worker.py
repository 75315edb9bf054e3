"""Runs a fit off the GUI thread.

`FitWorker` lives on a QThread: it builds the Fitter (decoding photos and the
set-up happen there too), runs it, and reports through queued signals:
batches of FitProgress snapshots at most ~10 times a second (no snapshot is
dropped: the loss plot gets every point), the fit's current Scene about once
a second (and when it pauses) for the viewport, the result, then (for a fit
that finished) per-photo errors.

Pause, resume and cancel set the Fitter's threading.Events directly from the
GUI thread (`FitRunner.pause()` ...): a queued signal would wait behind the
busy worker. A cancelled fit still delivers its last state as the result;
one cancelled during the set-up's ray-cast bakes (minutes on a large mesh)
stops there and delivers None: nothing was fitted.

`FitRunner` is the GUI-side handle: start / pause / resume / cancel, and the
worker's signals relayed on the GUI thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from models.errors import RelitError
from models.fit_config import FitConfig
from models.fit_progress import FitProgress
from renderer.bake_cache import BakeCancelled

log = logging.getLogger(__name__)

MakeFitter = Callable[[Callable[[FitProgress], None], threading.Event, threading.Event], Any]
"""(on_progress, cancel_event, pause_event) -> models.fitter.Fitter"""

SNAPSHOT_INTERVAL_S = 0.1
SCENE_INTERVAL_S = 1.0


def fitter_factory(capture: Any, config: FitConfig, fast_geometry: bool = False) -> MakeFitter:
    """A MakeFitter for a loaded Capture (runs on the worker thread). A
    capture without a mesh is reconstructed first (`fast_geometry`: small
    grids), its progress reported as geometry snapshots (negative steps)."""

    def make(on_progress, cancel, pause):
        from models.fit_geometry import fit_config_for_geometry, geometry_snapshot, reconstruct_for_fit
        from models.fitter import Fitter, views_from_capture

        fit_config = config
        source = capture
        if config.downscale != getattr(capture, "downscale", 1):
            # As `main.py fit`: the capture is read at the fit's photo size.
            from models.capture import load_capture

            source = load_capture(capture.root, downscale=config.downscale)
        mesh = source.load_mesh()
        if mesh is None:
            mesh = reconstruct_for_fit(source, config.resolved_device(), fast_geometry,
                                       lambda p: on_progress(geometry_snapshot(p)), cancel.is_set)
            if cancel.is_set():
                raise RelitError(source.root, "fit cancelled while reconstructing the geometry")
            fit_config = fit_config_for_geometry(config, fast_geometry)
        views = views_from_capture(source, fit_config)
        return Fitter(views, mesh, fit_config, on_progress=on_progress, cancel_event=cancel, pause_event=pause)

    return make


class FitWorker(QObject):
    """One fit, run by `run()` on the thread this object was moved to."""

    message = Signal(str)  # what the set-up is doing
    viewsReady = Signal(object)  # tuple of models.fitter.FitView (the decoded photos)
    snapshots = Signal(object)  # tuple[FitProgress, ...], oldest first
    sceneUpdated = Signal(object)  # Scene: the fit so far (throttled)
    result = Signal(object, str)  # final Scene (None: cancelled before its first step), "finished" | "cancelled"
    viewErrors = Signal(object)  # tuple[models.view_errors.ViewError, ...]
    failed = Signal(str)
    done = Signal()  # always last

    def __init__(self, make_fitter: MakeFitter, cancel_event: threading.Event, pause_event: threading.Event,
                 score_views: bool = True, snapshot_interval_s: float = SNAPSHOT_INTERVAL_S,
                 scene_interval_s: float = SCENE_INTERVAL_S):
        super().__init__()
        self.make_fitter = make_fitter
        self.cancel_event = cancel_event
        self.pause_event = pause_event
        self.score_views = score_views
        self.snapshot_interval_s = snapshot_interval_s
        self.scene_interval_s = scene_interval_s
        self.fitter: Any = None
        self._pending: list[FitProgress] = []
        self._last_emit = 0.0
        self._last_scene = 0.0
        self._last_state = ""

    @Slot()
    def run(self) -> None:
        try:
            self._run()
        except RelitError as exc:
            log.error("fit failed: %s", exc)
            self.failed.emit(str(exc))
        except Exception as exc:
            log.exception("fit failed")
            self.failed.emit(f"unexpected error: {exc}")
        finally:
            self.done.emit()

    def _run(self) -> None:
        self.message.emit("Reading photos…")
        if self.cancel_event.is_set():
            return
        fitter = self.make_fitter(self._on_progress, self.cancel_event, self.pause_event)
        self.fitter = fitter
        self.viewsReady.emit(tuple(fitter.views))
        self.message.emit("Preparing (UVs, occlusion, G-buffers)…")
        try:
            fitter.setup()
        except BakeCancelled:  # cancelled while baking: nothing fitted, the document stays as it was
            self.result.emit(None, "cancelled")
            return
        self._last_scene = time.monotonic()
        scene = fitter.run()
        self._flush()
        state = "cancelled" if fitter.state == "cancelled" else "finished"
        self.result.emit(scene, state)
        if self.score_views and state == "finished":
            from models.view_errors import score_views

            self.message.emit("Scoring each photo…")
            errors = score_views(scene, fitter.views, cancel=self.cancel_event)
            if errors:
                self.viewErrors.emit(tuple(errors))

    def _on_progress(self, progress: FitProgress) -> None:
        """The Fitter's callback (worker thread): batch, throttle, forward."""
        self._pending.append(progress)
        now = time.monotonic()
        if progress.state != "running" or now - self._last_emit >= self.snapshot_interval_s:
            self._flush()
        due = progress.state == "running" and now - self._last_scene >= self.scene_interval_s
        paused = progress.state == "paused" and self._last_state != "paused"  # the user stopped to look
        self._last_state = progress.state
        if (due or paused) and self.fitter is not None:
            self._last_scene = now
            self.sceneUpdated.emit(self.fitter.current_scene())

    def _flush(self) -> None:
        if self._pending:
            batch, self._pending = tuple(self._pending), []
            self._last_emit = time.monotonic()
            self.snapshots.emit(batch)


class FitRunner(QObject):
    """GUI-side handle of at most one running fit (see module doc)."""

    started = Signal()
    stateChanged = Signal(str)  # "running" | "pausing" | "paused" | "cancelling" | "idle"
    message = Signal(str)
    viewsReady = Signal(object)
    snapshots = Signal(object)
    sceneUpdated = Signal(object)
    result = Signal(object, str)
    viewErrors = Signal(object)
    failed = Signal(str)
    stopped = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.thread: QThread | None = None
        self.worker: FitWorker | None = None
        self.cancel_event = threading.Event()
        self.pause_event = threading.Event()
        self.state = "idle"

    @property
    def running(self) -> bool:
        return self.thread is not None

    def start(self, make_fitter: MakeFitter, score_views: bool = True) -> None:
        """Start a fit; raises RuntimeError if one is running."""
        if self.running:
            raise RuntimeError("a fit is already running")
        self.cancel_event = threading.Event()
        self.pause_event = threading.Event()
        self.worker = FitWorker(make_fitter, self.cancel_event, self.pause_event, score_views)
        self.thread = QThread(self)
        self.thread.setObjectName("fit")
        self.worker.moveToThread(self.thread)
        w = self.worker
        w.message.connect(self._on_message)
        w.viewsReady.connect(self._on_views)
        w.snapshots.connect(self._on_snapshots)
        w.sceneUpdated.connect(self._on_scene)
        w.result.connect(self._on_result)
        w.viewErrors.connect(self._on_view_errors)
        w.failed.connect(self._on_failed)
        w.done.connect(self._on_done)
        self.thread.started.connect(w.run)
        self._set_state("running")
        self.thread.start()
        self.started.emit()

    def pause(self) -> None:
        if self.running and not self.pause_event.is_set():
            self.pause_event.set()
            self._set_state("pausing")

    def resume(self) -> None:
        if self.running and self.pause_event.is_set():
            self.pause_event.clear()
            self._set_state("running")

    def cancel(self) -> None:
        if self.running:
            self.cancel_event.set()
            self._set_state("cancelling")

    def wait(self, timeout_ms: int = 60000) -> bool:
        """Block until the worker thread ended (tests, quitting)."""
        return self.thread is None or self.thread.wait(timeout_ms)

    def shutdown(self, timeout_ms: int = 60000) -> None:
        """Cancel and wait (the window is closing)."""
        self.cancel()
        self.pause_event.clear()
        if self.thread is not None:
            self.thread.quit()
            self.thread.wait(timeout_ms)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.stateChanged.emit(state)

    # ---- relays (GUI thread) -----------------------------------------------------------
    def _on_message(self, text: str) -> None:
        self.message.emit(text)

    def _on_views(self, views: object) -> None:
        self.viewsReady.emit(views)

    def _on_snapshots(self, batch: tuple) -> None:
        last = batch[-1]
        if last.state == "paused" and self.pause_event.is_set():
            self._set_state("paused")
        elif last.state == "running" and self.state == "paused":
            self._set_state("running")
        self.snapshots.emit(batch)

    def _on_scene(self, scene: object) -> None:
        if not self.cancel_event.is_set():
            self.sceneUpdated.emit(scene)

    def _on_result(self, scene: object, state: str) -> None:
        self.result.emit(scene, state)

    def _on_view_errors(self, errors: object) -> None:
        self.viewErrors.emit(errors)

    def _on_failed(self, problem: str) -> None:
        self.failed.emit(problem)

    def _on_done(self) -> None:
        thread = self.thread
        if thread is not None:
            thread.quit()
            thread.wait()
            thread.deleteLater()
        if self.worker is not None:
            self.worker.deleteLater()
        self.thread = None
        self.worker = None
        self._set_state("idle")
        self.stopped.emit()
