"""glTF 2.0 metallic-roughness BRDF, energy-conserving, in torch.

GLSL MIRROR: resources/shaders must implement these formulas term for term
(same constants, same clamps, same table lookups). Change one side, change
the other.

Conventions
- Perceptual roughness r is clamped to [MIN_ROUGHNESS, 1]; alpha = r^2.
- D: GGX / Trowbridge-Reitz, D = alpha^2 / (pi * ((NdotH^2 (alpha^2 - 1) + 1)^2)),
  evaluated as alpha^2 / (pi (|n x h|^2 + NdotH^2 alpha^2)^2) for float32 accuracy.
- V: height-correlated Smith visibility (already divided by 4 NdotL NdotV):
      V = 0.5 / (NdotL sqrt(NdotV^2 (1 - alpha^2) + alpha^2)
               + NdotV sqrt(NdotL^2 (1 - alpha^2) + alpha^2)).
- F: Schlick, F = F0 + (1 - F0) (1 - VdotH)^5, F0 = mix(0.04, albedo, metallic).
- NdotV is clamped to >= NDOTV_MIN (interpolated normals can face away from
  the eye); NdotL, NdotH, VdotH are clamped to [0, 1].

The BRDF (f, without the NdotL cosine):
      f = (1 - metallic) albedo / pi * (1 - E(NdotV)) (1 - E(NdotL)) / (1 - E_avg)
        + F(VdotH) D V
  E(mu) = 0.04 A(r, mu) + B(r, mu) is the directional albedo of glTF's
  dielectric specular layer, read from the split-sum DFG table (see
  renderer/envmap.py: texture(dfg, vec2(mu, r))); E_avg(r) = 2 int E(mu) mu dmu
  is its cosine-weighted average, `dielectric_albedo_average` (a 1D table over
  roughness, texel centres (i + 0.5) / S, linear, clamp). This replaces the
  glTF Appendix B coupling (1 - F(VdotH)) of the diffuse layer, which is not
  energy conserving (a smooth white dielectric seen at grazing angles
  reflects ~1.7x the light it receives), by Kelemen / Kulla-Conty albedo
  scaling: reciprocal, and a white dielectric reflects exactly what it
  receives (white furnace), which is the same diffuse weight (1 - E(NdotV))
  the split-sum environment term uses. The specular layer is glTF's.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

MIN_ROUGHNESS = 0.03
"""Lower clamp on perceptual roughness (alpha >= 9e-4); GLSL uses the same."""

DIELECTRIC_F0 = 0.04
"""Normal-incidence reflectance of glTF dielectrics (ior 1.5)."""

NDOTV_MIN = 1e-4
"""Lower clamp on NdotV so grazing and back-facing views stay finite."""


def alpha_from_roughness(roughness: Tensor) -> Tensor:
    """GGX alpha = clamp(r, MIN_ROUGHNESS, 1)^2 (same shape as roughness)."""
    r = roughness.clamp(MIN_ROUGHNESS, 1.0)
    return r * r


def ggx_d(n_dot_h: Tensor, alpha: Tensor, sin2_nh: Tensor | None = None) -> Tensor:
    """GGX normal distribution D(h) (per steradian of half-vectors).

    Written as alpha^2 / (pi (sin^2 + NdotH^2 alpha^2)^2) with sin^2 = |n x h|^2
    (Filament's form): NdotH^2 (alpha^2 - 1) + 1 cancels catastrophically in
    float32 near the peak of a smooth lobe (7% error at MIN_ROUGHNESS).
    `sin2_nh` defaults to 1 - NdotH^2.
    """
    a2 = alpha * alpha
    if sin2_nh is None:
        sin2_nh = 1.0 - n_dot_h * n_dot_h
    t = sin2_nh + n_dot_h * n_dot_h * a2
    return a2 / (math.pi * t * t)


def smith_v_height_correlated(n_dot_v: Tensor, n_dot_l: Tensor, alpha: Tensor) -> Tensor:
    """Height-correlated Smith G divided by (4 NdotL NdotV): f_spec = F D V."""
    a2 = alpha * alpha
    gv = n_dot_l * torch.sqrt(n_dot_v * n_dot_v * (1.0 - a2) + a2)
    gl = n_dot_v * torch.sqrt(n_dot_l * n_dot_l * (1.0 - a2) + a2)
    return 0.5 / (gv + gl)


def fresnel_schlick(f0: Tensor, v_dot_h: Tensor) -> Tensor:
    """Schlick's Fresnel: F0 + (1 - F0) (1 - VdotH)^5."""
    return f0 + (1.0 - f0) * (1.0 - v_dot_h).pow(5)


def specular_f0(albedo: Tensor, metallic: Tensor) -> Tensor:
    """F0 = mix(0.04, albedo, metallic): (N,3) from albedo (N,3), metallic (N,1)."""
    return DIELECTRIC_F0 + (albedo - DIELECTRIC_F0) * metallic


# ----------------------------------------------------------------------------
# Split-sum table lookups (the tables themselves come from renderer/envmap.py)
# ----------------------------------------------------------------------------


def sample_dfg(dfg: Tensor, n_dot_v: Tensor, roughness: Tensor) -> tuple[Tensor, Tensor]:
    """Bilinear lookup of the DFG table (S,S,2) (row i = roughness i): (A, B), each (N,1).

    n_dot_v, roughness (N,1). Same as GL texture(dfg, vec2(NdotV, r)) with
    LINEAR filtering and CLAMP_TO_EDGE.
    """
    grid = torch.stack([n_dot_v[:, 0] * 2.0 - 1.0, roughness[:, 0] * 2.0 - 1.0], -1)[None, None]
    table = dfg.permute(2, 0, 1)[None].to(n_dot_v.dtype)
    out = F.grid_sample(table, grid, mode="bilinear", padding_mode="border", align_corners=False)
    scale, bias = out[0, :, 0].T.split(1, dim=-1)
    return scale, bias


def dielectric_albedo(dfg: Tensor, n_dot: Tensor, roughness: Tensor) -> Tensor:
    """E(mu) = 0.04 A + B (N,1): directional albedo of the dielectric specular layer."""
    scale, bias = sample_dfg(dfg, n_dot, roughness)
    return DIELECTRIC_F0 * scale + bias


def dielectric_albedo_average(dfg: Tensor) -> Tensor:
    """E_avg (S,) per roughness row: 2 int E(mu) mu dmu by the midpoint rule
    over the table's NdotV texel centres mu_j = (j + 0.5) / S."""
    size = dfg.shape[1]
    mu = (torch.arange(size, dtype=dfg.dtype, device=dfg.device) + 0.5) / size
    albedo = DIELECTRIC_F0 * dfg[..., 0] + dfg[..., 1]  # (S,S)
    return albedo @ (2.0 * mu / size)


def sample_roughness_table(table: Tensor, roughness: Tensor) -> Tensor:
    """Linear lookup (N,1) in a 1D table (S,) over roughness: texel centres
    (i + 0.5) / S, clamp to edge (GL: texture(t, vec2(r, 0.5)) on an S x 1 texture)."""
    grid = torch.stack([roughness[:, 0] * 2.0 - 1.0, torch.zeros_like(roughness[:, 0])], -1)[None, None]
    image = table.to(roughness.dtype)[None, None, None]  # (1,1,1,S)
    out = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out[0, 0, 0][:, None]


@functools.lru_cache(maxsize=8)
def default_dfg(device: torch.device, dtype: torch.dtype) -> Tensor:
    """renderer.envmap.dfg_table() as a tensor on `device` (cached)."""
    from renderer.envmap import dfg_table  # envmap builds on this module

    return torch.tensor(dfg_table(), dtype=dtype, device=device)


def _dot(a: Tensor, b: Tensor) -> Tensor:
    return (a * b).sum(-1, keepdim=True)


def brdf_terms(
    n: Tensor,
    v: Tensor,
    l: Tensor,
    albedo: Tensor,
    roughness: Tensor,
    metallic: Tensor,
    dfg: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The BRDF's diffuse and specular parts (N,3) each, *without* the NdotL
    cosine; zero where the light is below the surface (NdotL <= 0).

    n, v, l (N,3) unit vectors (v towards the eye, l towards the light);
    albedo (N,3) linear base colour; roughness, metallic (N,1); dfg the
    (S,S,2) split-sum table (default: renderer.envmap.dfg_table()).
    """
    if dfg is None:
        dfg = default_dfg(n.device, n.dtype)
    n_dot_v = _dot(n, v).clamp_min(NDOTV_MIN)
    n_dot_l = _dot(n, l).clamp(0.0, 1.0)
    h = F.normalize(v + l, dim=-1, eps=1e-12)
    n_dot_h = _dot(n, h).clamp(0.0, 1.0)
    v_dot_h = _dot(v, h).clamp(0.0, 1.0)
    alpha = alpha_from_roughness(roughness)

    albedo_v = dielectric_albedo(dfg, n_dot_v, roughness)
    albedo_l = dielectric_albedo(dfg, n_dot_l, roughness)
    albedo_avg = sample_roughness_table(dielectric_albedo_average(dfg), roughness)
    coupling = (1.0 - albedo_v) * (1.0 - albedo_l) / (1.0 - albedo_avg)
    diffuse = (1.0 - metallic) * albedo / math.pi * coupling
    fresnel = fresnel_schlick(specular_f0(albedo, metallic), v_dot_h)
    n_cross_h = torch.linalg.cross(n, h)
    distribution = ggx_d(n_dot_h, alpha, (n_cross_h * n_cross_h).sum(-1, keepdim=True))
    specular = fresnel * distribution * smith_v_height_correlated(n_dot_v, n_dot_l, alpha)
    lit = n_dot_l > 0.0
    return torch.where(lit, diffuse, 0.0), torch.where(lit, specular, 0.0)


def brdf_eval(
    n: Tensor,
    v: Tensor,
    l: Tensor,
    albedo: Tensor,
    roughness: Tensor,
    metallic: Tensor,
    dfg: Tensor | None = None,
) -> Tensor:
    """The BRDF value f (N,3), *without* the NdotL cosine (see `brdf_terms`)."""
    diffuse, specular = brdf_terms(n, v, l, albedo, roughness, metallic, dfg)
    return diffuse + specular
