"""One bounce: the light the object's own surfaces send to each other.

Why: with the visibility maps alone (renderer/visibility.py) a direction the
mesh blocks brings no light at all. In a path tracer it brings the light of
the part that blocks it: glossy metal mirrors the rest of the object, and
concave parts get the light their walls reflect. Against Mitsuba's
DamagedHelmet with the true maps, direct light only scores 29.3 dB and one
bounce 34.5 dB (BENCHMARKS.md, fifth session): without a bounce, no fit can
relight it to 30 dB.

How: the visibility bake keeps its rays that land on the mesh
(`BounceRays`). `bounce_light` shades every landing point with the direct
light as it leaves towards the ray's origin (the single-lookup split sum,
dimmed by the landing point's AO and AO's specular-occlusion guess: reading
its visibility maps too took 3x as long, for a second-order term) under the
current maps and environment, and sums them
  - per (vertex, cell) into radiance maps (V,R,R,3), read in a direction
    exactly like the visibility maps, so a lobe sample the mesh blocks gets
    the light of what blocks it;
  - per vertex, cosine-weighted over its hemisphere, into irradiance / pi
    (V,3), which the diffuse term adds to the environment's irradiance x AO
    (with renderer/diffuse_occlusion.py's correction of that AO, which needs
    the same per-vertex table and the same refreshes).
Both are in the environment's units before its scale (strength and
exposure multiply them later, like the environment's lookups); a new
environment, rotation or material needs `bounce_light` again. Landing on
the back of a surface (the inside of an open shell) brings no light.
Punctual lights do not bounce.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from models.mesh import Mesh
from renderer.diffuse_occlusion import occlusion_correction

if TYPE_CHECKING:
    from renderer.shade import EnvironmentTextures, MaterialSample

_CHUNK = 1 << 18
"""Landing points shaded at once (bounds the lobe's (N, 8) temporaries)."""


@dataclass(frozen=True)
class BounceRays:
    """Rays of the visibility bake that land on the mesh (H of them).

    cell (H,) int32 (int64 past 2^31 cells): the map cell they stand for,
    v * R * R + row * R + column;
    weight (H,) float32: their share of that cell's value; irradiance_weight
    (H,) float32: weight x cosine to the vertex's normal x the cell's solid
    angle / pi (their share of the vertex's irradiance / pi); triangle (H,)
    int32 and barycentric (H,3) float32: where they land; direction (H,3)
    float32: unit, mesh frame, from the vertex towards the landing point."""

    cell: np.ndarray
    weight: np.ndarray
    irradiance_weight: np.ndarray
    triangle: np.ndarray
    barycentric: np.ndarray
    direction: np.ndarray

    @staticmethod
    def empty() -> BounceRays:
        z = np.zeros(0, np.float32)
        return BounceRays(z.astype(np.int32), z, z, z.astype(np.int32), np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32))

    def __len__(self) -> int:
        return len(self.cell)


@functools.lru_cache(maxsize=4)
def cell_solid_angles(resolution: int, refine: int = 8) -> np.ndarray:
    """(R*R,) steradians of each octahedral cell, row-major (sum 4 pi): the
    cells are not equal, so a cell's ray weighs by its own solid angle."""
    from renderer.visibility import octahedral_decode

    m = resolution * refine
    g = np.arange(m + 1) / m
    corners = octahedral_decode(np.stack(np.meshgrid(g, g, indexing="xy"), -1))  # (m+1, m+1, 3), [row, column]
    a, b = corners[:-1, :-1], corners[:-1, 1:]
    c, d = corners[1:, 1:], corners[1:, :-1]
    fine = _triangle_solid_angle(a, b, c) + _triangle_solid_angle(a, c, d)  # (m, m)
    return fine.reshape(resolution, refine, resolution, refine).sum((1, 3)).reshape(-1)


def _triangle_solid_angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Solid angle of spherical triangles of unit vertices (Van Oosterom & Strackee 1983)."""
    triple = np.abs(np.einsum("...i,...i->...", a, np.cross(b, c)))
    den = 1.0 + np.einsum("...i,...i->...", a, b) + np.einsum("...i,...i->...", b, c) + np.einsum("...i,...i->...", c, a)
    return 2.0 * np.arctan2(triple, den)


MaterialAt = Callable[[Tensor], "MaterialSample"]
"""uv (N,2) -> the material there (renderer.shade.MaterialSample)."""


def bounce_light(
    rays: BounceRays,
    mesh: Mesh,
    maps: Tensor,
    material_at: MaterialAt,
    env: EnvironmentTextures,
    frame: Tensor | None = None,
    cancel: threading.Event | None = None,
) -> tuple[Tensor, Tensor]:
    """Radiance maps (V,R,R,3) and irradiance / pi (V,3) the object sends its
    vertices (module doc), on maps' device. The irradiance also carries the
    environment's diffuse occlusion correction (renderer/diffuse_occlusion.py),
    so one per-vertex table holds all the diffuse term adds to irradiance x AO.

    maps (V,R,R) the mesh's visibility maps (for their size and device);
    material_at reads the material at the landing points' uv; env the
    environment (its scale is left out);
    frame (3,3) as SpecularVisibility's: the environment's frame to the
    mesh's (d_mesh = d @ frame), None when they are the same;
    cancel: once set, BakeCancelled is raised between chunks of rays (a
    large mesh's bounce takes seconds, and an edit can make it moot)."""
    from renderer.bake_cache import BakeCancelled
    from renderer.shade import SurfaceSample, shade_environment

    device = maps.device
    res = maps.shape[-1]
    count = len(mesh.vertices)
    radiance = torch.zeros((count * res * res, 3), dtype=torch.float32, device=device)
    normals = torch.as_tensor(mesh.normals, dtype=torch.float32, device=device)
    ao = None if mesh.ao is None else torch.as_tensor(mesh.ao, dtype=torch.float32, device=device)
    to_env = None if frame is None else frame.to(device, torch.float32).T
    with torch.no_grad():
        irradiance = occlusion_correction(maps, normals, ao, env.specular[0], env.irradiance, env.rotation_deg, to_env)
    if len(rays) == 0 or mesh.uv is None:
        return radiance.reshape(count, res, res, 3), irradiance
    faces = torch.as_tensor(mesh.faces.astype(np.int64), device=device)
    uvs = torch.as_tensor(mesh.uv, dtype=torch.float32, device=device)
    direct = dataclasses.replace(env, scale=1.0, lobe_samples=0)
    with torch.no_grad():
        for start in range(0, len(rays), _CHUNK):
            if cancel is not None and cancel.is_set():
                raise BakeCancelled("the bounce light was cancelled")
            sl = slice(start, start + _CHUNK)
            tri = torch.as_tensor(rays.triangle[sl], device=device).long()
            bary = torch.as_tensor(rays.barycentric[sl], device=device)
            incoming = torch.as_tensor(rays.direction[sl], device=device)
            corners = faces[tri]  # (k,3)
            normal = torch.nn.functional.normalize((bary[..., None] * normals[corners]).sum(1), dim=-1)
            front = ((normal * incoming).sum(-1, keepdim=True) < 0.0).float()
            uv = (bary[..., None] * uvs[corners]).sum(1)
            point_ao = None if ao is None else (bary * ao[corners]).sum(1, keepdim=True)
            view = -incoming
            if to_env is not None:
                normal, view = normal @ to_env, view @ to_env
            surface = SurfaceSample(torch.zeros_like(normal), normal, view, point_ao)
            diffuse, specular = shade_environment(surface, material_at(uv), direct)
            light = (diffuse + specular) * front
            cell = torch.as_tensor(rays.cell[sl], device=device).long()
            radiance.index_add_(0, cell, light * torch.as_tensor(rays.weight[sl], device=device)[:, None])
            irradiance.index_add_(
                0, torch.div(cell, res * res, rounding_mode="floor"),
                light * torch.as_tensor(rays.irradiance_weight[sl], device=device)[:, None],
            )
    return radiance.reshape(count, res, res, 3), irradiance
