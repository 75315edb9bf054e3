"""Bakes kept by the mesh's geometry, so a mesh seen again is not baked again.

Why: geometry is fixed while a scene is worked on, but the objects holding
it are not: every fit (each metallic start, a second fit in the GUI, the
render after a fit) builds a new Mesh from the same arrays. Ray-cast bakes
(ambient occlusion, specular visibility) took most of a fit's setup on the
bundled sample (AO 4.7 s, visibility 14 s on 2 cores), so they are keyed by
a digest of the arrays a bake reads, not by the object.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import numpy as np

from models.mesh import Mesh

_T = TypeVar("_T")


class BakeCancelled(Exception):
    """A bake stopped by its `cancel` event (a closing window, a cancelled
    fit); nothing of it is kept."""


def geometry_key(mesh: Mesh, *settings: Hashable) -> tuple:
    """A key for what a bake of `mesh` reads (vertices, faces, normals) and
    the bake's own `settings` (samples, seed, ...)."""
    digest = hashlib.blake2b(digest_size=16)
    for array in (mesh.vertices, mesh.faces, mesh.normals):
        digest.update(str(array.shape).encode() + str(array.dtype).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return (digest.digest(), *settings)


class BakeCache(Generic[_T]):
    """The newest `size` bakes, least recently used dropped first. One bake
    runs at a time: a second caller of the same key waits for the first's
    result instead of baking it twice (the GUI's viewport and a fit often
    ask for the same mesh at once)."""

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict[tuple, _T] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: tuple) -> bool:
        with self._lock:
            return key in self._entries

    def get(self, key: tuple, bake: Callable[[], _T]) -> _T:
        with self._lock:
            if key not in self._entries:
                self._entries[key] = bake()
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
            self._entries.move_to_end(key)
            return self._entries[key]
