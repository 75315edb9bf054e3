"""Ray casting against a mesh with Embree: hits, shadows, reference G-buffers.

Why: ambient occlusion, light visibility and a reference for the rasterizer
all need many rays against the same fixed mesh. Embree answers in float32;
`cast_rays` then recomputes each hit's distance and barycentrics against the
triangle Embree found, in float64, so the reference is as exact as the
geometry. The Embree scene is built once per mesh (`ray_caster` caches it).

If embreex is missing, trimesh's pure-Python engine is used with a warning
(it needs the `rtree` package and is far slower).
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from models.camera import Camera
from models.mesh import Mesh
from renderer.gbuffer import GBuffer, build_gbuffer

try:
    from embreex import mesh_construction, rtcore_scene

    HAVE_EMBREE = True
except ImportError:  # pragma: no cover - exercised only where embreex is absent
    HAVE_EMBREE = False

_BATCH = 1 << 20  # rays per Embree call: bounds the temporary float32 arrays
_FAR = 1e37  # Embree's "no limit"


@dataclass(frozen=True)
class RayHits:
    """Nearest hits of N rays. `t` (N,) float64 is the ray parameter (a
    distance when directions are unit), inf on a miss; `triangle` (N,) int64
    face index, -1 on a miss; `barycentric` (N,3) float64 weights of the
    face's three vertices (zeros on a miss)."""

    t: np.ndarray
    triangle: np.ndarray
    barycentric: np.ndarray

    @property
    def hit(self) -> np.ndarray:
        """(N,) bool."""
        return self.triangle >= 0


class RayCaster:
    """An acceleration structure over one mesh (Embree, or trimesh's engine)."""

    def __init__(self, mesh: Mesh, backend: str = "auto"):
        if backend == "auto":
            backend = "embree" if HAVE_EMBREE else "trimesh"
        if backend == "embree" and not HAVE_EMBREE:
            raise ImportError("embreex is not installed")
        self.backend = backend
        self.vertices = np.asarray(mesh.vertices, np.float64)
        self.faces = np.asarray(mesh.faces, np.int64)
        # Embree works in float32: centring the scene keeps precision.
        self.centre = self.vertices.mean(0) if len(self.vertices) else np.zeros(3)
        if backend == "embree":
            self._scene = rtcore_scene.EmbreeScene()
            mesh_construction.TriangleMesh(
                self._scene,
                (self.vertices - self.centre).astype(np.float32),
                self.faces.astype(np.int32),
            )
        elif backend == "trimesh":
            try:
                import rtree  # noqa: F401  (trimesh's engine builds an R-tree of triangles)
            except ImportError as exc:
                raise ImportError("ray casting needs embreex, or rtree for trimesh's slow engine") from exc
            warnings.warn("embreex is unavailable: ray casting falls back to trimesh's slow engine", stacklevel=2)
            import trimesh
            from trimesh.ray.ray_triangle import RayMeshIntersector

            self._engine = RayMeshIntersector(trimesh.Trimesh(self.vertices, self.faces, process=False))
        else:
            raise ValueError(f"unknown ray casting backend {backend!r}")

    def intersect(
        self, origins: np.ndarray, dirs: np.ndarray, tmax: float | np.ndarray | None = None, exact: bool = True
    ) -> RayHits:
        """Nearest hits of rays origins (N,3) + t * dirs (N,3), 0 <= t <= tmax.
        `exact` False keeps Embree's float32 distances and barycentrics (4x
        faster: for bakes, not for reference G-buffers)."""
        o = np.asarray(origins, np.float64).reshape(-1, 3)
        d = np.asarray(dirs, np.float64).reshape(-1, 3)
        n = len(o)
        tri = np.full(n, -1, np.int64)
        if self.backend == "embree":
            limit = _limits(tmax, n)
            t, bary = np.full(n, np.inf), np.zeros((n, 3))
            for s in range(0, n, _BATCH):
                sl = slice(s, s + _BATCH)
                r = self._scene.run(
                    (o[sl] - self.centre).astype(np.float32),
                    d[sl].astype(np.float32),
                    dists=limit[sl].copy(),
                    output=1,
                )
                tri[sl] = r["primID"]
                if not exact:
                    u, v = r["u"], r["v"]
                    bary[sl] = np.stack([1.0 - u - v, u, v], 1)
                    t[sl] = r["tfar"]
            if not exact:
                t[tri < 0] = np.inf
                bary[tri < 0] = 0.0
                return RayHits(t, tri, bary)
        else:
            idx_tri, idx_ray = self._engine.intersects_id(o, d, multiple_hits=False)
            tri[idx_ray] = idx_tri
        t, bary = _refine(self.vertices, self.faces, o, d, tri)
        if tmax is not None:
            beyond = t > np.broadcast_to(np.asarray(tmax, np.float64), (n,))
            tri[beyond] = -1
        t[tri < 0] = np.inf
        bary[tri < 0] = 0.0
        return RayHits(t, tri, bary)

    def occluded(self, origins: np.ndarray, dirs: np.ndarray, tmax: float | np.ndarray | None = None) -> np.ndarray:
        """(N,) bool: does anything lie on origins + t * dirs for 0 <= t <= tmax?"""
        o = np.asarray(origins, np.float64).reshape(-1, 3)
        d = np.asarray(dirs, np.float64).reshape(-1, 3)
        n = len(o)
        if self.backend != "embree":
            return self.intersect(o, d, tmax).hit
        limit = _limits(tmax, n)
        out = np.empty(n, bool)
        for s in range(0, n, _BATCH):
            sl = slice(s, s + _BATCH)
            r = self._scene.run(
                (o[sl] - self.centre).astype(np.float32),
                d[sl].astype(np.float32),
                dists=limit[sl].copy(),
                query="OCCLUDED",
            )
            out[sl] = np.asarray(r) >= 0
        return out


_T = TypeVar("_T")


def cached_per_mesh(cache: dict[int, tuple[weakref.ref, _T]], mesh: Mesh, build: Callable[[Mesh], _T]) -> _T:
    """`build(mesh)`, kept in `cache` while the mesh lives (Mesh holds numpy
    arrays, so it is not hashable: the cache is keyed by identity and the
    entry dropped when the mesh is freed)."""
    key = id(mesh)
    entry = cache.get(key)
    if entry is not None and entry[0]() is mesh:
        return entry[1]
    value = build(mesh)
    cache[key] = (weakref.ref(mesh, lambda _ref, k=key: cache.pop(k, None)), value)
    return value


_CACHE: dict[int, tuple[weakref.ref, RayCaster]] = {}


def ray_caster(mesh: Mesh | RayCaster) -> RayCaster:
    """The cached RayCaster of `mesh` (built on first use, freed with the mesh)."""
    if isinstance(mesh, RayCaster):
        return mesh
    return cached_per_mesh(_CACHE, mesh, RayCaster)


def cast_rays(
    mesh: Mesh | RayCaster, origins: np.ndarray, dirs: np.ndarray, tmax: float | np.ndarray | None = None
) -> RayHits:
    """Nearest hits of rays origins (N,3) + t * dirs (N,3) with 0 <= t <= tmax."""
    return ray_caster(mesh).intersect(origins, dirs, tmax)


def occluded(
    mesh: Mesh | RayCaster, origins: np.ndarray, dirs: np.ndarray, tmax: float | np.ndarray | None = None
) -> np.ndarray:
    """(N,) bool shadow test; offset `origins` off the surface to avoid self-hits."""
    return ray_caster(mesh).occluded(origins, dirs, tmax)


def raycast_gbuffer(mesh: Mesh, camera: Camera, device: torch.device | str = "cpu") -> GBuffer:
    """The G-buffer of `camera`'s view by ray casting through pixel centres:
    the reference `renderer.raster.rasterize` is tested against."""
    origins, dirs = camera.pixel_rays()
    hits = cast_rays(mesh, origins.reshape(-1, 3), dirs.reshape(-1, 3))
    d = dirs.reshape(-1, 3)
    depth = np.where(hits.hit, hits.t, 0.0) * (d @ camera.forward)
    hit = hits.hit
    fn = _face_normals(np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)[hits.triangle[hit]])
    back = np.zeros(len(d), bool)
    back[hit] = np.einsum("ij,ij->i", fn, d[hit]) > 0
    dev = torch.device(device)
    return build_gbuffer(
        mesh,
        camera,
        torch.as_tensor(hits.triangle, device=dev),
        torch.as_tensor(hits.barycentric[hit], device=dev),
        torch.as_tensor(depth[hit], device=dev),
        torch.as_tensor(back[hit], device=dev),
    )


def _limits(tmax: float | np.ndarray | None, n: int) -> np.ndarray:
    if tmax is None:
        return np.full(n, _FAR, np.float32)
    t = np.broadcast_to(np.asarray(tmax, np.float64), (n,))
    return np.minimum(t, _FAR).astype(np.float32)


def _face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = vertices[faces]
    return np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])


def _refine(
    vertices: np.ndarray, faces: np.ndarray, o: np.ndarray, d: np.ndarray, tri: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Float64 Moller-Trumbore against the given triangles: t (N,), barycentric (N,3)."""
    n = len(o)
    t = np.full(n, np.inf)
    bary = np.zeros((n, 3))
    hit = tri >= 0
    if not hit.any():
        return t, bary
    p = vertices[faces[tri[hit]]]  # (K,3,3)
    oh, dh = o[hit], d[hit]
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    pv = np.cross(dh, e2)
    det = np.einsum("ij,ij->i", e1, pv)
    det = np.where(det == 0, 1e-300, det)
    tv = oh - p[:, 0]
    b1 = np.einsum("ij,ij->i", tv, pv) / det
    qv = np.cross(tv, e1)
    b2 = np.einsum("ij,ij->i", dh, qv) / det
    t[hit] = np.einsum("ij,ij->i", e2, qv) / det
    bary[hit] = np.stack([1 - b1 - b2, b1, b2], 1)
    return t, bary
