"""Specular visibility: in which directions each vertex sees the environment.

Why: baked AO says how open a point is, not where it is open. The split sum
dimmed a point's specular light by a guess made from AO alone (Lagarde's
specular occlusion), so glossy metal that mirrors another part of the object
(a helmet's chrome rims mirroring its own shell, a bottle's body seen past
its cap) showed the sky there instead, 5-30% too bright. Against the path
tracer's renders of DamagedHelmet (true maps, two test views) that cost
5 dB: 21.3-21.7 dB with the guess, 26.7-27.6 dB reading these maps.

Each vertex stores an octahedral map (RESOLUTION x RESOLUTION cells covering
the whole sphere, mesh frame) of the fraction of rays that leave the mesh. As
for AO (renderer/ao.py), it is measured just inside the triangles around the
vertex, ignoring points buried inside another part. A shading point blends
its triangle's three maps by its barycentric weights, each read bilinearly
(clamped at the map's edges) in a direction.

GLSL MIRROR: resources/shaders/common/visibility.glsl reads the same maps
(renderer/gl/textures.py's VisibilityTextures) the way `SpecularVisibility`
does; the GL/torch parity test renders a torus with them.
"""

from __future__ import annotations

import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from models.cores import usable_cores
from models.mesh import Mesh
from renderer.ao import _default_offset, _unit, inset_points
from renderer.raycast import HAVE_EMBREE, cached_per_mesh, ray_caster

RESOLUTION = 16
"""Cells per side of a vertex's octahedral map (16: ~11 degrees per cell;
8 lost 1.5 dB of the 5 on DamagedHelmet)."""
BELOW_HORIZON = -0.5
"""Cells whose centre lies this far below a point's horizon (cosine with its
normal) are not traced: no lobe at that point reaches them."""
_RAYS_PER_CALL = 1 << 20


def octahedral_encode(dirs: Tensor) -> Tensor:
    """Unit directions (...,3) -> octahedral map coordinates (...,2) in [0,1]."""
    d = dirs / dirs.abs().sum(-1, keepdim=True).clamp_min(1e-30)
    x, y, z = d.unbind(-1)
    sx = torch.where(x >= 0.0, 1.0, -1.0).to(d.dtype)
    sy = torch.where(y >= 0.0, 1.0, -1.0).to(d.dtype)
    ox = torch.where(z >= 0.0, x, (1.0 - y.abs()) * sx)
    oy = torch.where(z >= 0.0, y, (1.0 - x.abs()) * sy)
    return torch.stack([ox, oy], -1) * 0.5 + 0.5


def octahedral_decode(uv: np.ndarray) -> np.ndarray:
    """Octahedral map coordinates (...,2) in [0,1] -> unit directions (...,3)."""
    f = np.asarray(uv, np.float64) * 2.0 - 1.0
    x, y = f[..., 0], f[..., 1]
    z = 1.0 - np.abs(x) - np.abs(y)
    fold = np.clip(-z, 0.0, None)
    x = x - np.where(x >= 0.0, 1.0, -1.0) * fold
    y = y - np.where(y >= 0.0, 1.0, -1.0) * fold
    return _unit(np.stack([x, y, z], -1))


def bake_vertex_visibility(
    mesh: Mesh, resolution: int = RESOLUTION, seed: int = 0, inset: float = 0.6, threads: int | None = None
) -> np.ndarray:
    """Visibility maps (V, R, R) float16 in [0, 1], row = v, column = u of
    `octahedral_encode`; one jittered ray per cell per point (module doc)."""
    if len(mesh.faces) == 0:
        return np.zeros((len(mesh.vertices), resolution, resolution), np.float16)
    points, normals, owners, weight = inset_points(mesh, inset)
    cells = _cells(resolution)
    centres = octahedral_decode((cells + 0.5) / resolution)
    maps = _point_maps(mesh, points, normals, cells, centres, resolution, seed, threads)  # (P, R*R)
    # A point that sees nothing of its own hemisphere is buried: it says nothing.
    above = (normals @ centres.T) > 0.0
    seen = ((maps * above).sum(1) > 0.0) * weight
    den = np.bincount(owners, weights=seen, minlength=len(mesh.vertices))
    acc = np.zeros((len(mesh.vertices), len(cells)))
    np.add.at(acc, owners, maps * seen[:, None])
    mean = acc / np.maximum(den, 1e-30)[:, None]
    return mean.reshape(len(mesh.vertices), resolution, resolution).astype(np.float16)


def _cells(resolution: int) -> np.ndarray:
    """(R*R, 2) integer (column, row) of every cell, row-major."""
    return np.stack(np.meshgrid(np.arange(resolution), np.arange(resolution), indexing="xy"), -1).reshape(-1, 2)


def _point_maps(
    mesh: Mesh,
    points: np.ndarray,
    normals: np.ndarray,
    cells: np.ndarray,
    centres: np.ndarray,
    resolution: int,
    seed: int,
    threads: int | None,
) -> np.ndarray:
    """(P, R*R) float32: 1 where the jittered ray of that cell escapes."""
    caster = ray_caster(mesh)
    eps = _default_offset(caster)
    jitter = np.random.default_rng(seed).random((len(points), len(cells), 2))
    per = max(1, _RAYS_PER_CALL // len(cells))

    def chunk(start: int) -> np.ndarray:
        sl = slice(start, start + per)
        p, nrm = points[sl], normals[sl]
        traced = (nrm @ centres.T) >= BELOW_HORIZON  # (k, cells)
        dirs = octahedral_decode((cells[None] + jitter[sl]) / resolution)[traced]
        origins = np.repeat(p + eps * nrm, traced.sum(1), axis=0)
        result = np.zeros(traced.shape, np.float32)
        result[traced] = ~caster.occluded(origins, dirs)
        return result

    workers = threads or usable_cores()
    with ThreadPoolExecutor(max(1, workers)) as pool:  # Embree releases the GIL
        return np.concatenate(list(pool.map(chunk, range(0, len(points), per))))


@dataclass(frozen=True)
class SpecularVisibility:
    """What N shading points need to read the maps: the maps (V,R,R) as a
    float tensor, each point's triangle vertices (N,3) int64 and barycentric
    weights (N,3), and `frame` (3,3) taking shading-frame directions to the
    mesh frame (d_mesh = d @ frame; None when they are the same)."""

    maps: Tensor
    vertices: Tensor
    weights: Tensor
    frame: Tensor | None = None

    @staticmethod
    def at(
        maps: Tensor, faces: Tensor, triangle: Tensor, barycentric: Tensor, frame: Tensor | None = None
    ) -> SpecularVisibility:
        """For points on triangles (N,) int64 (rows of faces (F,3)) at
        barycentric weights (N,3)."""
        return SpecularVisibility(maps, faces[triangle.clamp_min(0)].long(), barycentric, frame)

    def subset(self, index: Tensor | slice) -> SpecularVisibility:
        return SpecularVisibility(self.maps, self.vertices[index], self.weights[index], self.frame)

    def __call__(self, dirs: Tensor) -> Tensor:
        """Visibility (N,K) in directions (N,K,3) (shading frame)."""
        if self.frame is not None:
            dirs = dirs @ self.frame.to(dirs.dtype)
        res = self.maps.shape[-1]
        uv = octahedral_encode(dirs) * res - 0.5  # (N,K,2) in cell units
        x0f, y0f = uv[..., 0].floor(), uv[..., 1].floor()
        fx, fy = uv[..., 0] - x0f, uv[..., 1] - y0f
        x0 = x0f.long().clamp(0, res - 1)
        y0 = y0f.long().clamp(0, res - 1)
        x1 = (x0f.long() + 1).clamp(0, res - 1)
        y1 = (y0f.long() + 1).clamp(0, res - 1)
        flat = self.maps.reshape(-1)
        out = torch.zeros_like(fx)
        for j in range(3):
            base = (self.vertices[:, j] * (res * res))[:, None]  # (N,1): this corner's map
            at = [flat[base + y * res + x].to(dirs.dtype) for y in (y0, y1) for x in (x0, x1)]
            top = at[0] * (1.0 - fx) + at[1] * fx
            bottom = at[2] * (1.0 - fx) + at[3] * fx
            out = out + self.weights[:, j : j + 1].to(dirs.dtype) * (top * (1.0 - fy) + bottom * fy)
        return out


VISIBILITY_SAMPLES = 8
"""Directions of the GGX lobe (renderer.specular_lobe's sample set) the
single-lookup split sum averages visibility over: visibility is smooth (a
bilinear 16x16 map), so 8 do not alias as 8 environment lookups did."""


_CACHE: dict[int, tuple[weakref.ref, np.ndarray]] = {}


def vertex_visibility(mesh: Mesh) -> np.ndarray | None:
    """`bake_vertex_visibility(mesh)`, baked on first use and kept while the
    mesh lives; None without Embree (trimesh's engine would take minutes), so
    shading falls back to the AO-based specular occlusion."""
    if not HAVE_EMBREE or len(mesh.faces) == 0:
        return None
    return cached_per_mesh(_CACHE, mesh, bake_vertex_visibility)


def visibility_tensors(mesh: Mesh, device: torch.device | str) -> tuple[Tensor, Tensor] | None:
    """The mesh's maps (V,R,R) and faces (F,3) int64 on `device`, what
    `SpecularVisibility.at` reads; None where `vertex_visibility` is None."""
    baked = vertex_visibility(mesh)
    if baked is None:
        return None
    return torch.as_tensor(baked, device=device), torch.as_tensor(mesh.faces.astype(np.int64), device=device)
