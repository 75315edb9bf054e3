"""Specular visibility maps, and the light the object sends itself, worked
out off the GUI thread.

A mesh with baked AO (a fitted scene) gets per-vertex maps of where it sees
the environment (renderer.visibility), which the viewport reads so glossy
metal stops mirroring sky where it mirrors its own object; and, under the
current material and environment, the light its own surfaces send into
those blocked directions (renderer.interreflection, one bounce).
Both take seconds on large meshes, so the viewport asks
`VisibilityBaker.request(mesh)` and `request_bounce(mesh, material,
environment)`; a worker works them out and `ready(mesh, maps)` /
`bounce_ready(key, bounce)` arrive on the GUI thread. Until then the
viewport shows AO's guess, and the previous bounce light. Only the newest
request of each kind matters: one not yet started is dropped when another
comes, and a running one is stopped (within a second; a large mesh's bake
takes minutes, and the new request would wait for it), as is everything
when the window closes (it would hold up the program's exit).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from models.lighting import Environment, Lighting
from models.material import MaterialMaps
from models.mesh import Mesh
from models.scene import Scene
from renderer.bake_cache import BakeCancelled

log = logging.getLogger(__name__)

BounceKey = tuple[Mesh, MaterialMaps, Environment]
"""What the bounce light depends on (compared by identity)."""


def bake(mesh: Mesh, cancel: threading.Event | None = None) -> np.ndarray | None:
    """The maps SceneRenderer.set_visibility takes (None without Embree, or
    when `cancel` stopped it)."""
    from renderer.visibility import vertex_visibility

    try:
        return vertex_visibility(mesh, cancel)
    except BakeCancelled:
        return None


def light(key: BounceKey, cancel: threading.Event | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """The bounce light SceneRenderer.set_bounce takes (None: none, or
    `cancel` stopped it)."""
    from models.render_scene import scene_bounce

    mesh, material, environment = key
    try:
        return scene_bounce(Scene(mesh, material, Lighting(environment)), cancel=cancel)
    except BakeCancelled:
        return None


class VisibilityBaker(QObject):
    """request(mesh) -> later ready(mesh, maps); request_bounce(...) ->
    later bounce_ready(key, bounce); see the module doc."""

    ready = Signal(object, object)  # Mesh, (V,R,R) maps
    bounce_ready = Signal(object, object)  # BounceKey, (radiance (V,R,R,3), irradiance (V,3)) or None
    # Emitted on the worker; connected to a bound method, so Qt queues it to this object's thread.
    _doneOnWorker = Signal(str, object, object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._executor: ThreadPoolExecutor | None = None
        # kind -> (key, future, stop): stop is set when the job is superseded or the window closes
        self._jobs: dict[str, tuple[Any, Future, threading.Event]] = {}
        self._closed = False
        self._doneOnWorker.connect(self._done)

    def request(self, mesh: Mesh) -> None:
        """Bake `mesh`'s maps on the worker (no-op while that mesh is being
        baked; a bake of another mesh is stopped)."""
        self._submit("maps", mesh, bake)

    def request_bounce(self, mesh: Mesh, material: MaterialMaps, environment: Environment) -> None:
        """Work out the light `mesh` sends itself under `material` and
        `environment` (no-op while the same is being worked out; one for
        anything else is stopped)."""
        self._submit("bounce", (mesh, material, environment), light)

    def wait(self, mesh: Mesh, timeout_s: float = 120.0) -> np.ndarray | None:
        """The maps of `mesh` once baked (for a caller that needs the final
        frame now: screenshots, tests); None when not requested or failed."""
        return self._wait("maps", mesh, timeout_s)

    def wait_bounce(self, key: BounceKey, timeout_s: float = 120.0) -> tuple[np.ndarray, np.ndarray] | None:
        """The bounce light of `key` once worked out (as `wait`)."""
        return self._wait("bounce", key, timeout_s)

    def shutdown(self) -> None:
        """Drop queued work and stop the running job (closing)."""
        self._closed = True
        for _, future, stop in self._jobs.values():
            future.cancel()
            stop.set()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _submit(self, kind: str, key: Any, work: Callable[[Any, threading.Event], Any]) -> None:
        job = self._jobs.get(kind)
        if self._closed or (job is not None and _same(job[0], key)):
            return
        if job is not None:  # superseded: dropped if not started, else stopped
            job[1].cancel()
            job[2].set()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="visibility")
        stop = threading.Event()
        future = self._executor.submit(work, key, stop)
        self._jobs[kind] = (key, future, stop)
        future.add_done_callback(lambda f, k=key: self._finished_on_worker(kind, k, f, stop))

    def _wait(self, kind: str, key: Any, timeout_s: float) -> Any:
        job = self._jobs.get(kind)
        if job is None or not _same(job[0], key):
            return None
        try:
            return job[1].result(timeout_s)
        except (CancelledError, FutureTimeout):
            return None
        except Exception:  # noqa: BLE001 - the worker's callback logs it
            return None

    def _finished_on_worker(self, kind: str, key: Any, future: Future, stop: threading.Event) -> None:
        if future.cancelled() or stop.is_set() or self._closed:
            return
        try:
            result = future.result()
        except Exception:  # AO's guess / no bounce stays: worse speculars, not a broken window
            log.exception("working out the specular %s failed", "visibility" if kind == "maps" else "bounce light")
            return
        try:
            self._doneOnWorker.emit(kind, key, result)
        except RuntimeError:  # the owner is gone (the window closed meanwhile)
            pass

    def _done(self, kind: str, key: Any, result: Any) -> None:
        job = self._jobs.get(kind)
        if job is not None and _same(job[0], key):
            del self._jobs[kind]
        if kind == "maps" and result is not None:
            self.ready.emit(key, result)
        elif kind == "bounce":
            self.bounce_ready.emit(key, result)


def _same(a: Any, b: Any) -> bool:
    """Identity, element-wise for tuples (the keys hold arrays)."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(x is y for x, y in zip(a, b))
    return a is b
