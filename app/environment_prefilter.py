"""Environment prefiltering off the GUI thread.

Prefiltering a radiance map for the split sum (renderer.envmap) takes about a
second per megapixel on a CPU. The viewport asks `EnvironmentPrefilter` for
the tables of a radiance array; a worker thread makes them and `ready`
delivers them on the GUI thread, where SceneRenderer.set_environment(...,
prefiltered=...) only uploads textures. Until then the viewport keeps
drawing the previous environment.

Only the newest request matters: one that has not started yet is dropped
when another comes. Finished tables stay in a small cache keyed by the
identity of the radiance array (which the cache keeps alive).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance

    from renderer.envmap import PrefilteredEnvironment

log = logging.getLogger(__name__)

RESULT_CACHE_SIZE = 3


def prefilter(radiance: np.ndarray) -> PrefilteredEnvironment:
    """The tables SceneRenderer makes for `radiance` (its default sizes)."""
    from renderer.envmap import prefilter_environment

    return prefilter_environment(radiance)


class EnvironmentPrefilter(QObject):
    """request(radiance, name) -> later ready(radiance, prefiltered); see the module doc."""

    ready = Signal(object, object)  # radiance array, PrefilteredEnvironment
    failed = Signal(object, str)  # radiance array, problem
    busyChanged = Signal(str)  # what is being prepared, "" when idle
    # Emitted on the worker; connected to bound methods, so Qt queues them to this object's thread.
    _doneOnWorker = Signal(object, object)
    _failedOnWorker = Signal(object, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._executor: ThreadPoolExecutor | None = None
        self._jobs: dict[int, tuple[np.ndarray, Future]] = {}
        self._results: OrderedDict[int, tuple[np.ndarray, PrefilteredEnvironment]] = OrderedDict()
        self._closed = False
        self._doneOnWorker.connect(self._done)
        self._failedOnWorker.connect(self._failed)

    # ---- asking ---------------------------------------------------------------------
    def result(self, radiance: np.ndarray) -> PrefilteredEnvironment | None:
        """The finished tables of this very array, or None."""
        entry = self._results.get(id(radiance))
        return entry[1] if entry is not None and entry[0] is radiance else None

    def pending(self, radiance: np.ndarray) -> bool:
        job = self._jobs.get(id(radiance))
        return job is not None and job[0] is radiance

    def request(self, radiance: np.ndarray, name: str = "environment") -> None:
        """Make the tables of `radiance` on the worker (no-op when they exist
        or are being made); requests not yet started are dropped."""
        if self._closed or self.result(radiance) is not None or self.pending(radiance):
            return
        for key, (_, future) in list(self._jobs.items()):
            if future.cancel():  # not started: superseded
                self._jobs.pop(key, None)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefilter")
        future = self._executor.submit(prefilter, radiance)
        self._jobs[id(radiance)] = (radiance, future)
        self.busyChanged.emit(name)
        # The callback runs on the worker: the queued signal brings it to this object's thread.
        future.add_done_callback(lambda f, r=radiance: self._finished_on_worker(r, f))

    def wait(self, radiance: np.ndarray, timeout_s: float = 60.0) -> PrefilteredEnvironment | None:
        """Block until the tables of `radiance` exist (requesting them if
        needed) and return them; None on failure or timeout. For a caller
        that needs the final frame now (screenshots, tests)."""
        if (done := self.result(radiance)) is not None:
            return done
        self.request(radiance)
        job = self._jobs.get(id(radiance))
        if job is None:
            return None
        try:
            pre = job[1].result(timeout_s)
        except (CancelledError, FutureTimeout):
            return None
        except Exception:  # noqa: BLE001 - the worker's callback logs it and reports `failed`
            return None
        self._finish(radiance, pre)
        return pre

    def shutdown(self) -> None:
        """Drop queued work and let the running job finish (closing)."""
        self._closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    # ---- answers ----------------------------------------------------------------------
    def _finished_on_worker(self, radiance: np.ndarray, future: Future) -> None:
        if future.cancelled() or self._closed:
            return
        try:
            pre = future.result()
        except Exception as exc:  # shown to the user
            log.exception("prefiltering the environment failed")
            self._emit(self._failedOnWorker, radiance, str(exc))
        else:
            self._emit(self._doneOnWorker, radiance, pre)

    @staticmethod
    def _emit(signal: SignalInstance, *args: object) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the owner is gone (the window closed meanwhile)
            pass

    def _done(self, radiance: np.ndarray, pre: PrefilteredEnvironment) -> None:
        if self.pending(radiance):  # else wait() took it already
            self._finish(radiance, pre)
            self.ready.emit(radiance, pre)

    def _finish(self, radiance: np.ndarray, pre: PrefilteredEnvironment) -> None:
        self._jobs.pop(id(radiance), None)
        self._store(radiance, pre)
        if not self._jobs:
            self.busyChanged.emit("")

    def _failed(self, radiance: np.ndarray, problem: str) -> None:
        self._jobs.pop(id(radiance), None)
        if not self._jobs:
            self.busyChanged.emit("")
        self.failed.emit(radiance, problem)

    def _store(self, radiance: np.ndarray, pre: PrefilteredEnvironment) -> None:
        self._results[id(radiance)] = (radiance, pre)
        self._results.move_to_end(id(radiance))
        while len(self._results) > RESULT_CACHE_SIZE:
            self._results.popitem(last=False)
