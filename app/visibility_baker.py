"""Specular visibility maps baked off the GUI thread.

A mesh with baked AO (a fitted scene) gets per-vertex maps of where it sees
the environment (renderer.visibility), which the viewport reads so glossy
metal stops mirroring sky where it mirrors its own object.
Baking takes seconds on large meshes, so the viewport asks
`VisibilityBaker.request(mesh)`; a worker bakes and `ready(mesh, maps)`
arrives on the GUI thread. Until then the viewport uses AO's guess. Only
the newest mesh matters: a request not yet started is dropped when another
comes.
"""

from __future__ import annotations

import logging
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np
from PySide6.QtCore import QObject, Signal

from models.mesh import Mesh

log = logging.getLogger(__name__)


def bake(mesh: Mesh) -> np.ndarray | None:
    """The maps SceneRenderer.set_visibility takes (None without Embree)."""
    from renderer.visibility import vertex_visibility

    return vertex_visibility(mesh)


class VisibilityBaker(QObject):
    """request(mesh) -> later ready(mesh, maps); see the module doc."""

    ready = Signal(object, object)  # Mesh, (V,R,R) maps
    # Emitted on the worker; connected to a bound method, so Qt queues it to this object's thread.
    _doneOnWorker = Signal(object, object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._executor: ThreadPoolExecutor | None = None
        self._job: tuple[Mesh, Future] | None = None
        self._closed = False
        self._doneOnWorker.connect(self._done)

    def request(self, mesh: Mesh) -> None:
        """Bake `mesh`'s maps on the worker (no-op while that mesh is being baked)."""
        if self._closed or (self._job is not None and self._job[0] is mesh):
            return
        if self._job is not None:
            self._job[1].cancel()  # not started: superseded
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="visibility")
        future = self._executor.submit(bake, mesh)
        self._job = (mesh, future)
        future.add_done_callback(lambda f, m=mesh: self._finished_on_worker(m, f))

    def wait(self, mesh: Mesh, timeout_s: float = 120.0) -> np.ndarray | None:
        """The maps of `mesh` once baked (for a caller that needs the final
        frame now: screenshots, tests); None when not requested or failed."""
        job = self._job
        if job is None or job[0] is not mesh:
            return None
        try:
            return job[1].result(timeout_s)
        except (CancelledError, FutureTimeout):
            return None
        except Exception:  # noqa: BLE001 - the worker's callback logs it
            return None

    def shutdown(self) -> None:
        """Drop queued work and let a running bake finish (closing)."""
        self._closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _finished_on_worker(self, mesh: Mesh, future: Future) -> None:
        if future.cancelled() or self._closed:
            return
        try:
            maps = future.result()
        except Exception:  # AO's guess stays: worse speculars, not a broken window
            log.exception("baking specular visibility failed")
            return
        try:
            self._doneOnWorker.emit(mesh, maps)
        except RuntimeError:  # the owner is gone (the window closed meanwhile)
            pass

    def _done(self, mesh: Mesh, maps: np.ndarray | None) -> None:
        if self._job is not None and self._job[0] is mesh:
            self._job = None
        if maps is not None:
            self.ready.emit(mesh, maps)
