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

The same rays that land on the mesh are kept too, one per vertex and cell
(`bake_visibility_and_bounces`): renderer/interreflection.py lights them
with the object's own light (one bounce). Bakes are cached by the mesh's
geometry (`vertex_visibility`, `vertex_bounce_rays`).

GLSL MIRROR: resources/shaders/common/visibility.glsl reads the same maps
(renderer/gl/textures.py's VisibilityTextures) the way `SpecularVisibility`
does; the GL/torch parity test renders a torus with them.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from models.cores import usable_cores
from models.mesh import Mesh
from renderer.ao import _default_offset, inset_points
from renderer.bake_cache import BakeCache, BakeCancelled, geometry_key
from renderer.raycast import HAVE_EMBREE, ray_caster

if TYPE_CHECKING:
    from renderer.interreflection import BounceRays

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
    """Octahedral map coordinates (...,2) in [0,1] -> unit directions (...,3),
    in float32 for float32 coordinates (the bake decodes millions of rays),
    float64 otherwise."""
    uv = np.asarray(uv)
    f = uv.astype(np.float32 if uv.dtype == np.float32 else np.float64, copy=False) * 2.0 - 1.0
    x, y = f[..., 0], f[..., 1]
    z = 1.0 - np.abs(x) - np.abs(y)
    fold = np.clip(-z, 0.0, None)
    x = x - np.where(x >= 0.0, fold, -fold)
    y = y - np.where(y >= 0.0, fold, -fold)
    d = np.stack([x, y, z], -1)
    return d / np.maximum(np.sqrt(np.einsum("...i,...i->...", d, d))[..., None], 1e-30)


def bake_vertex_visibility(
    mesh: Mesh, resolution: int = RESOLUTION, seed: int = 0, inset: float = 0.6, threads: int | None = None
) -> np.ndarray:
    """Visibility maps (V, R, R) float16 in [0, 1], row = v, column = u of
    `octahedral_encode`; one jittered ray per cell per point (module doc)."""
    return bake_visibility_and_bounces(mesh, resolution, seed, inset, threads)[0]


def bake_visibility_and_bounces(
    mesh: Mesh,
    resolution: int = RESOLUTION,
    seed: int = 0,
    inset: float = 0.6,
    threads: int | None = None,
    cancel: threading.Event | None = None,
) -> tuple[np.ndarray, BounceRays]:
    """`bake_vertex_visibility`'s maps and, from the same rays, the ones that
    land on the mesh (renderer/interreflection.py lights them): one ray per
    (vertex, cell) stands for all of its points' rays there, carrying their
    summed shares (a third as many to light, and memory for one).

    `cancel`, once set, stops the bake within one batch of rays (a second
    or so) with BakeCancelled: a closed window must not keep tracing a large
    mesh for minutes, nor hold up the program's exit."""
    from renderer.interreflection import BounceRays

    if len(mesh.faces) == 0:
        return np.zeros((len(mesh.vertices), resolution, resolution), np.float16), BounceRays.empty()
    points, normals, owners, weight = inset_points(mesh, inset)
    bake = _Bake(len(mesh.vertices), resolution)
    _trace(mesh, points, normals, owners, weight, bake, seed, threads, cancel)
    den = np.maximum(bake.den, 1e-30)
    maps = (bake.escaped / den[:, None]).reshape(len(mesh.vertices), resolution, resolution).astype(np.float16)
    landed = np.flatnonzero(bake.share > 0.0)
    owner = landed // (resolution * resolution)
    bounces = BounceRays(
        cell=landed.astype(np.int32 if bake.share.size < 2**31 else np.int64),
        weight=(bake.share[landed] / den[owner]).astype(np.float32),
        irradiance_weight=(bake.irradiance_share[landed] / den[owner]).astype(np.float32),
        triangle=bake.triangle[landed],
        barycentric=bake.barycentric[landed],
        direction=bake.direction[landed],
    )
    return maps, bounces


class _Bake:
    """Per vertex and cell, what the traced points add up (before dividing
    by the vertex's total point weight `den`): the escaped share, the landed
    share (plain and cosine x solid angle / pi weighted) and one landed ray."""

    def __init__(self, vertices: int, resolution: int):
        from renderer.interreflection import cell_solid_angles

        cells = vertices * resolution * resolution
        self.resolution = resolution
        self.solid_angle = cell_solid_angles(resolution)
        self.den = np.zeros(vertices)
        self.escaped = np.zeros((vertices, resolution * resolution))
        self.share = np.zeros(cells)
        self.irradiance_share = np.zeros(cells)
        self.triangle = np.zeros(cells, np.int32)
        self.barycentric = np.zeros((cells, 3), np.float32)
        self.direction = np.zeros((cells, 3), np.float32)
        self.lock = threading.Lock()


def _trace(
    mesh: Mesh,
    points: np.ndarray,
    normals: np.ndarray,
    owners: np.ndarray,
    weight: np.ndarray,
    bake: _Bake,
    seed: int,
    threads: int | None,
    cancel: threading.Event | None = None,
) -> None:
    """Trace one jittered ray per cell from every point (those of cells well
    below its horizon are not traced) and add them into `bake`; BakeCancelled
    once `cancel` is set."""
    res = bake.resolution
    cells = _cells(res)
    centres = cell_centres(res)
    caster = ray_caster(mesh)
    eps = _default_offset(caster)
    per = max(1, _RAYS_PER_CALL // len(cells))

    def chunk(start: int) -> None:
        if cancel is not None and cancel.is_set():
            raise BakeCancelled
        sl = slice(start, start + per)
        p, nrm = points[sl], normals[sl]
        jitter = np.random.default_rng([seed, start]).random((len(p), len(cells), 2)).astype(np.float32)
        traced = (nrm @ centres.T) >= BELOW_HORIZON  # (k, cells)
        dirs = octahedral_decode((cells[None].astype(np.float32) + jitter)[traced] / np.float32(res))
        hits = caster.intersect(np.repeat(p + eps * nrm, traced.sum(1), axis=0), dirs, exact=False)
        escaped = np.zeros(traced.shape)
        escaped[traced] = ~hits.hit
        # A point that sees nothing of its own hemisphere is buried: it says nothing.
        seen = ((escaped * ((nrm @ centres.T) > 0.0)).sum(1) > 0.0) * weight[sl]
        point, cell = np.nonzero(traced)
        h = hits.hit & (seen[point] > 0.0)
        point, cell, d = point[h], cell[h], dirs[h]
        flat = owners[sl][point] * len(cells) + cell
        cosine = np.clip(np.einsum("ij,ij->i", nrm[point], d), 0.0, None)
        with bake.lock:
            np.add.at(bake.den, owners[sl], seen)
            np.add.at(bake.escaped, owners[sl], escaped * seen[:, None])
            np.add.at(bake.share, flat, seen[point])
            np.add.at(bake.irradiance_share, flat, seen[point] * cosine * bake.solid_angle[cell] / np.pi)
            bake.triangle[flat] = hits.triangle[h]
            bake.barycentric[flat] = hits.barycentric[h]
            bake.direction[flat] = d

    workers = threads or usable_cores()
    with ThreadPoolExecutor(max(1, workers)) as pool:  # Embree releases the GIL
        try:
            list(pool.map(chunk, range(0, len(points), per)))
        except BaseException:  # cancelled, Ctrl+C or a failure: the batches not started are dropped
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _cells(resolution: int) -> np.ndarray:
    """(R*R, 2) integer (column, row) of every cell, row-major."""
    return np.stack(np.meshgrid(np.arange(resolution), np.arange(resolution), indexing="xy"), -1).reshape(-1, 2)


def cell_centres(resolution: int) -> np.ndarray:
    """(R*R, 3) unit directions at the centres of the maps' cells, row-major."""
    return octahedral_decode((_cells(resolution) + 0.5) / resolution)


@dataclass(frozen=True)
class SpecularVisibility:
    """What N shading points need to read the maps: the maps (V,R,R) as a
    float tensor, each point's triangle vertices (N,3) int64 and barycentric
    weights (N,3), and `frame` (3,3) taking shading-frame directions to the
    mesh frame (d_mesh = d @ frame; None when they are the same).

    With the bounce radiance (V,R,R,3; in `lit` beside the maps) and
    `bounce_irradiance` (V,3) (renderer/interreflection.py: the light the
    object's own surfaces send each vertex, per direction and cosine-
    weighted over its hemisphere, in the environment's units before its
    scale) the blocked directions bring that light instead of none."""

    maps: Tensor
    vertices: Tensor
    weights: Tensor
    frame: Tensor | None = None
    bounce_irradiance: Tensor | None = None
    lit: Tensor | None = None  # (V,R,R,4) the maps and the bounce radiance together (with_bounce)

    @staticmethod
    def at(
        maps: Tensor, faces: Tensor, triangle: Tensor, barycentric: Tensor, frame: Tensor | None = None
    ) -> SpecularVisibility:
        """For points on triangles (N,) int64 (rows of faces (F,3)) at
        barycentric weights (N,3)."""
        return SpecularVisibility(maps, faces[triangle.clamp_min(0)].long(), barycentric, frame)

    def located(self, faces: Tensor, triangle: Tensor, barycentric: Tensor) -> SpecularVisibility:
        """The same maps (and bounce light) at other points (as `at`)."""
        return replace(self, vertices=faces[triangle.clamp_min(0)].long(), weights=barycentric)

    def subset(self, index: Tensor | slice) -> SpecularVisibility:
        return replace(self, vertices=self.vertices[index], weights=self.weights[index])

    def with_bounce(self, bounce: tuple[Tensor, Tensor] | None) -> SpecularVisibility:
        """These points lit also by `bounce` = (radiance maps, irradiance)
        of renderer.interreflection.bounce_light (None: not)."""
        if bounce is None:
            return replace(self, bounce_irradiance=None, lit=None)
        radiance, irradiance = bounce
        lit = torch.cat([self.maps.to(radiance.dtype)[..., None], radiance], -1)  # one read for both
        return replace(self, bounce_irradiance=irradiance, lit=lit)

    def __call__(self, dirs: Tensor) -> Tensor:
        """Visibility (N,K) in directions (N,K,3) (shading frame)."""
        return self._read(self.maps, dirs)[..., 0]

    def read(self, dirs: Tensor) -> tuple[Tensor, Tensor | None]:
        """Visibility (N,K) in directions (N,K,3) (shading frame) and the
        radiance (N,K,3) the object itself sends from them (None without
        bounce light)."""
        if self.lit is None:
            return self(dirs), None
        both = self._read(self.lit, dirs)
        return both[..., 0], both[..., 1:]

    def irradiance(self) -> Tensor | None:
        """(N,3) irradiance / pi from the object's own surfaces, or None."""
        if self.bounce_irradiance is None:
            return None
        corners = self.bounce_irradiance[self.vertices].to(self.weights.dtype)  # (N,3,3)
        return (self.weights[..., None] * corners).sum(1)

    def _read(self, maps: Tensor, dirs: Tensor) -> Tensor:
        """Maps (V,R,R[,C]) read in directions (N,K,3): (N,K,C), bilinear in
        each corner's map, blended by the barycentric weights."""
        if self.frame is not None:
            dirs = dirs @ self.frame.to(dirs.dtype)
        res = maps.shape[1]
        uv = octahedral_encode(dirs) * res - 0.5  # (N,K,2) in cell units
        x0f, y0f = uv[..., 0].floor(), uv[..., 1].floor()
        fx, fy = (uv[..., 0] - x0f)[..., None], (uv[..., 1] - y0f)[..., None]
        x0 = x0f.long().clamp(0, res - 1)
        y0 = y0f.long().clamp(0, res - 1)
        x1 = (x0f.long() + 1).clamp(0, res - 1)
        y1 = (y0f.long() + 1).clamp(0, res - 1)
        flat = maps.reshape(-1, 1 if maps.dim() == 3 else maps.shape[-1])
        out = torch.zeros(fx.shape[:-1] + (flat.shape[1],), dtype=dirs.dtype, device=dirs.device)

        def tap(index: Tensor) -> Tensor:  # index_select: ~2.5x faster than fancy indexing for C > 1
            return flat.index_select(0, index.reshape(-1)).reshape(index.shape + (flat.shape[1],)).to(dirs.dtype)

        for j in range(3):
            base = (self.vertices[:, j] * (res * res))[:, None]  # (N,1): this corner's map
            at = [tap(base + y * res + x) for y in (y0, y1) for x in (x0, x1)]
            top = at[0] * (1.0 - fx) + at[1] * fx
            bottom = at[2] * (1.0 - fx) + at[3] * fx
            out = out + self.weights[:, j : j + 1, None].to(dirs.dtype) * (top * (1.0 - fy) + bottom * fy)
        return out


VISIBILITY_SAMPLES = 8
"""Directions of the GGX lobe (renderer.specular_lobe's sample set) the
single-lookup split sum averages visibility over: visibility is smooth (a
bilinear 16x16 map), so 8 do not alias as 8 environment lookups did."""


CACHED_BAKES = 2
"""Bakes kept, newest first, keyed by the mesh's geometry (not the object):
a scene opened again, or rendered by the next command, finds its bake."""
_CACHE: BakeCache[tuple[np.ndarray, BounceRays]] = BakeCache(CACHED_BAKES)


def vertex_visibility(mesh: Mesh, cancel: threading.Event | None = None) -> np.ndarray | None:
    """`bake_vertex_visibility(mesh)`, baked on first use and kept for the
    next CACHED_BAKES meshes; None without Embree (trimesh's engine would take
    minutes), so shading falls back to the AO-based specular occlusion.
    BakeCancelled once `cancel` is set (see `bake_visibility_and_bounces`)."""
    baked = _baked(mesh, cancel)
    return None if baked is None else baked[0]


def vertex_bounce_rays(mesh: Mesh) -> BounceRays | None:
    """The bake's rays that land on the mesh (see `vertex_visibility`)."""
    baked = _baked(mesh)
    return None if baked is None else baked[1]


def _baked(mesh: Mesh, cancel: threading.Event | None = None) -> tuple[np.ndarray, BounceRays] | None:
    if not HAVE_EMBREE or len(mesh.faces) == 0:
        return None
    return _CACHE.get(geometry_key(mesh), lambda: bake_visibility_and_bounces(mesh, cancel=cancel))


def visibility_tensors(
    mesh: Mesh, device: torch.device | str, cancel: threading.Event | None = None
) -> tuple[Tensor, Tensor] | None:
    """The mesh's maps (V,R,R) and faces (F,3) int64 on `device`, what
    `SpecularVisibility.at` reads; None where `vertex_visibility` is None
    (BakeCancelled as there)."""
    baked = vertex_visibility(mesh, cancel)
    if baked is None:
        return None
    return torch.as_tensor(baked, device=device), torch.as_tensor(mesh.faces.astype(np.int64), device=device)
