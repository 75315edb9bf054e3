"""Diffuse light through the visibility maps: where a vertex is open, not only how much.

Why: the diffuse term dims the environment's irradiance by AO, the share of
the hemisphere a point sees, as if the light came evenly from everywhere.
Under a compact bright source it does not: a point whose open directions
face away from the sun is in shadow, one open towards it is lit fully, and
AO gives both the same share. The fit then paints those shadows into the
albedo (DamagedHelmet's crevices and Avocado's pit under the training
light's two bright corridor ends).

How: per vertex, the environment's radiance averaged over each cell of the
visibility maps (renderer/visibility.py; SUBDIVISION^2 lookups per cell),
cosine-weighted to the vertex's normal, summed once over the open share of
each cell and once over every cell: their ratio is the light-weighted open
share. Divided by the same ratio under uniform light (the maps' own
cosine-weighted open share, what AO measures) it says how much more or less
light the open directions bring than AO assumes: the factor f. The
correction

    irradiance(n_v) * (min(ao_v f, 1) - ao_v)

is what the diffuse term must add at the vertex so that irradiance(n) * ao
becomes irradiance(n) * ao * f there. Ratios, not sums, so that the sums'
quadrature error (a 16 x 16 map's cells) cancels, and AO keeps saying how
open a point is: in cracks the maps and AO's own bake can disagree (a
WaterBottle vertex between cap and neck: AO 0.61, the maps 0.07), and a
correction to the maps' share would have swung such vertices by half the
light. Under uniform light f = 1 and nothing changes. The correction travels with the
one-bounce irradiance per vertex (renderer/interreflection.py's
`bounce_light` adds it), so torch and GLSL read it the same way,
interpolated over each triangle; the total irradiance is clamped at 0.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor

from renderer.envmap import rotate_to_environment, sample_equirect

SUBDIVISION = 4
"""Environment lookups per cell side averaged into the cell's light: 4 x 4
per ~11 degree cell, so a light source a few degrees wide falls on one."""
MIN_OPEN = 0.02
"""Below this cosine-weighted open share the maps say nothing of where the
light comes from (a vertex in a crack): AO alone, as before."""
_VERTICES_PER_CHUNK = 8192


@functools.lru_cache(maxsize=4)
def _cells(resolution: int, subdivision: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The maps' cells (row-major): their centre directions (R*R, 3) and
    solid angles / pi (R*R,), and the directions of SUBDIVISION^2 sub-cell
    centres in each (R*R, S*S, 3), all in the mesh frame."""
    from renderer.interreflection import cell_solid_angles
    from renderer.visibility import cell_centres

    fine = cell_centres(resolution * subdivision).reshape(resolution, subdivision, resolution, subdivision, 3)
    fine = fine.transpose(0, 2, 1, 3, 4).reshape(resolution * resolution, subdivision * subdivision, 3)
    omega = cell_solid_angles(resolution) / np.pi
    return cell_centres(resolution).astype(np.float32), omega.astype(np.float32), fine.astype(np.float32)


def occlusion_correction(
    maps: Tensor,
    normals: Tensor,
    ao: Tensor | None,
    radiance: Tensor,
    irradiance: Tensor,
    rotation_deg: float | Tensor = 0.0,
    to_env: Tensor | None = None,
) -> Tensor:
    """(V,3) irradiance / pi to add to irradiance(n) * ao at each vertex (module doc).

    maps (V,R,R) visibility maps; normals (V,3) unit, mesh frame; ao (V,) or
    None (1); radiance (H,W,3) the environment (e.g. its prefiltered stack's
    sharpest level) and irradiance (h,w,3) its irradiance / pi table, before
    the environment's scale; to_env (3,3) mesh frame to the environment's
    (d_env = d @ to_env), None when they are the same. Each cell's cosine
    is its centre's: the ratios cancel most of that error."""
    device = maps.device
    res = maps.shape[-1]
    centre_np, omega_np, fine_np = _cells(res, SUBDIVISION)
    centre, omega, fine = (torch.as_tensor(a, device=device) for a in (centre_np, omega_np, fine_np))
    normal = normals.to(device, torch.float32)
    to_env = None if to_env is None else to_env.to(device, torch.float32)
    env_dirs = fine.reshape(-1, 3) if to_env is None else fine.reshape(-1, 3) @ to_env
    light = sample_equirect(radiance.float(), rotate_to_environment(env_dirs, rotation_deg))
    light = light.reshape(len(centre), -1, 3).mean(1)  # (C,3) each cell's mean radiance
    light = torch.cat([light, torch.ones_like(light[:, :1])], -1)  # and uniform light, for the maps' own open share
    vis = maps.reshape(len(maps), -1).float()
    share = torch.ones((len(maps), 1), device=device) if ao is None else ao.to(device, torch.float32).reshape(-1, 1)
    factor = torch.ones((len(maps), 3), dtype=torch.float32, device=device)
    for start in range(0, len(maps), _VERTICES_PER_CHUNK):
        sl = slice(start, start + _VERTICES_PER_CHUNK)
        weight = (normal[sl] @ centre.T).clamp_min(0.0) * omega  # (k,C) cosine x solid angle / pi
        ratio = ((vis[sl] * weight) @ light) / (weight @ light).clamp_min(1e-12)  # (k,4) open shares
        lit, uniform = ratio[:, :3], ratio[:, 3:]
        factor[sl] = torch.where(uniform > MIN_OPEN, lit / uniform.clamp_min(MIN_OPEN), 1.0)
    normal_env = normal if to_env is None else normal @ to_env
    whole = sample_equirect(irradiance.float(), rotate_to_environment(normal_env, rotation_deg))
    return whole * ((share * factor).clamp(max=1.0) - share)
