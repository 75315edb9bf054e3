"""Where the environment's specular light comes from: the lobe, sampled.

GLSL MIRROR: resources/shaders/common/specular_lobe.glsl computes
exactly `lobe_radiance` below (its `specular_lobe_radiance`).

The classic split sum reads the prefiltered environment once, along one
direction, through a round lobe (Karis's N = V = R). At oblique views the real
GGX lobe is stretched and tilted, and rough metals came out 14% too dark
against a path tracer (WaterBottle's body). Here the lobe's radiance is

    radiance_lobe = sum_k w_k prefiltered(l_k, r_k) / sum_k w_k

over K visible normals m_k of GGX (Heitz 2018, "Sampling the GGX Distribution
of Visible Normals"), l_k = reflect(-v, m_k), w_k = G2(v, l_k) / G1(v)
(height-correlated Smith; 0 below the horizon): the estimator of the lobe's
shape. Each sample reads a prefiltered level wide enough to cover its share of
the lobe (filtered importance sampling, Colbert & Krivanek 2007): sample k
stands for Omega_k = 1 / (K pdf_k) steradians and reads the level whose GGX
alpha is SAMPLE_BLUR * sqrt(Omega_k / (4 pi)), never blurrier than the split
sum's single lookup for the whole lobe (level = roughness). The DFG factor of
the split sum still carries the energy (the white furnace stays exact); the
samples only say where the light comes from.

Measured (BENCHMARKS.md): WaterBottle with its true maps against Mitsuba,
27.7 dB with the single lookup, 29.8 with 16 samples, 30.3 with 32
(SAMPLE_BLUR 1; 0.5 aliases on sunny skies, 2 blurs the lobe wider than it
is). Still frames only: a fit step keeps the single lookup
(FitConfig.lobe_samples), corrected per pixel by this lobe's ratio to it,
worked out a few times per fit (FitConfig.lobe_refreshes).

Samples: the fixed 2D set u_k = ((k + 0.5) / K, radical_inverse_2(k)) in the
tangent frame of n whose first axis is v projected on the tangent plane.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from renderer.brdf import NDOTV_MIN, alpha_from_roughness
from renderer.envmap import rotate_to_environment, sample_specular
from renderer.visibility import VISIBILITY_SAMPLES, SpecularVisibility

RENDER_SAMPLES = 32
"""Lobe samples per pixel of still frames, torch and GLSL alike."""
SAMPLE_BLUR = 1.0
"""A sample's lookup lobe covers its solid-angle share SAMPLE_BLUR times over."""
SHIFTED_SAMPLE_BLUR = 0.5
"""The same for per-pixel shifted sets (`shifted_disk`): a narrower lookup
aliases on sunny skies, but shifted per pixel that aliasing is noise, and
the wider lookup's bias is not (WaterBottle's metal under its training
light, 128 lookups against Monte Carlo over 7x7-pixel boxes, 10th / 90th
percentile: fixed set 0.906 / 1.196, shifted 0.926 / 1.181, shifted with
this blur 0.927 / 1.134; `python -m benchmarks.lobe_error --shifted --blur 7`)."""


@functools.lru_cache(maxsize=8)
def sample_set(count: int) -> tuple[tuple[float, float], ...]:
    """((k + 0.5) / K, radical_inverse_2(k)) for k < K: exact binary fractions
    for power-of-two K, so GLSL computes the same values."""
    out = []
    for k in range(count):
        bits, scale, i = 0.0, 0.5, k
        while i:
            bits += (i & 1) * scale
            i >>= 1
            scale *= 0.5
        out.append(((k + 0.5) / count, bits))
    return tuple(out)


@functools.lru_cache(maxsize=8)
def disk_points(count: int) -> tuple[tuple[float, float], ...]:
    """The sample set on the unit disk, (sqrt(u0) cos(2 pi u1), sqrt(u0) sin(2 pi u1)):
    constants, computed once here and handed to GLSL as a table."""
    return tuple(
        (math.sqrt(u0) * math.cos(2.0 * math.pi * u1), math.sqrt(u0) * math.sin(2.0 * math.pi * u1))
        for u0, u1 in sample_set(count)
    )


def shifted_disk(count: int, shift: Tensor) -> Tensor:
    """(N,K,2) the sample set moved per point by `shift` (N,2) in [0,1)^2,
    modulo 1, then onto the disk like `disk_points` (Cranley-Patterson
    rotation). Why: the fixed set's error is a smooth function of the
    view and normal, so neighbouring pixels and views share it and a fit
    reads it as albedo (bands on WaterBottle's metal). Shifted at random
    per pixel, the set stays stratified and its error turns into noise
    that the many pixels of one texel average out."""
    base = torch.tensor(sample_set(count), dtype=shift.dtype, device=shift.device)  # (K,2)
    u = torch.remainder(base[None] + shift[:, None], 1.0)  # (N,K,2)
    radius, phi = u[..., 0].sqrt(), 2.0 * math.pi * u[..., 1]
    return torch.stack([radius * torch.cos(phi), radius * torch.sin(phi)], -1)


def _dot(a: Tensor, b: Tensor) -> Tensor:
    return (a * b).sum(-1, keepdim=True)


def tangent_frame(n: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """Unit tangents t, b (N,3) completing unit normals n (N,3) to a right-
    handed frame, t along v's projection on the tangent plane, so the sample
    pattern turns with the scene (rotating scene and light together changes
    nothing). Where v is along n: Duff et al. 2017's branchless frame."""
    along_v = v - _dot(n, v) * n
    len2 = _dot(along_v, along_v)
    sign = torch.where(n[:, 2:3] >= 0.0, 1.0, -1.0).to(n.dtype)
    a = -1.0 / (sign + n[:, 2:3])
    b = n[:, 0:1] * n[:, 1:2] * a
    t = torch.cat([1.0 + sign * n[:, 0:1] * n[:, 0:1] * a, sign * b, -sign * n[:, 0:1]], 1)
    t = torch.where(len2 > 1e-12, along_v * torch.rsqrt(len2.clamp_min(1e-12)), t)
    return t, torch.linalg.cross(n, t)


CHUNK_LOOKUPS = 1 << 20
"""Lookups shaded at once: bounds the (N, K) temporaries (~4 KiB per pixel
at K = 32) when whole frames are rendered."""


def lobe_radiance(
    n: Tensor,
    v: Tensor,
    roughness: Tensor,
    specular: Tensor,
    rotation_deg: float | Tensor,
    fallback: Tensor,
    count: int = RENDER_SAMPLES,
    visibility: SpecularVisibility | None = None,
    shift: Tensor | None = None,
) -> Tensor:
    """Radiance (N,3) averaged over the specular lobe (module doc).

    n, v (N,3) unit world normal and view (towards the camera); roughness
    (N,1) perceptual; specular (L,H,W,3) the prefiltered stack; fallback
    (N,3) the value where no sample lies above the horizon (grazing views).
    `visibility` (renderer/visibility.py) darkens the samples whose direction
    the mesh blocks; without it every sample sees the environment.
    `shift` (N,2) moves each pixel's sample set (`shifted_disk`; the fit's
    lobe ratio), else every pixel uses the fixed set (still frames, GLSL).
    Large inputs are shaded in chunks of CHUNK_LOOKUPS lookups.
    """
    step = max(1, CHUNK_LOOKUPS // max(count, 1))
    parts = []
    for i in range(0, max(n.shape[0], 1), step):
        sl = slice(i, i + step)
        disk = None if shift is None else shifted_disk(count, shift[sl])
        blur_scale = SAMPLE_BLUR if shift is None else SHIFTED_SAMPLE_BLUR
        l_world, weight, blur = lobe_samples(n[sl], v[sl], roughness[sl], count, disk, blur_scale)
        dirs = rotate_to_environment(l_world.reshape(-1, 3), rotation_deg)
        lookups = sample_specular(specular, dirs, blur.reshape(-1, 1)).reshape(weight.shape[0], count, -1)
        total = weight.sum(1, keepdim=True)
        lobe = (weight[..., None] * lookups)
        if visibility is not None:
            open_share, bounced = visibility.subset(sl).read(l_world)
            lobe = lobe * open_share[..., None]
            if bounced is not None:  # blocked directions bring the object's own light
                lobe = lobe + weight[..., None] * bounced
        lobe = lobe.sum(1) / total.clamp_min(1e-12)
        parts.append(torch.where(total > 1e-6, lobe, fallback[sl]))
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def lobe_visibility(
    n: Tensor, v: Tensor, roughness: Tensor, visibility: SpecularVisibility, count: int = VISIBILITY_SAMPLES
) -> Tensor:
    """(N,1) share of the specular lobe that `visibility` leaves open: the
    single-lookup split sum's specular occlusion when the maps are baked."""
    dirs, weight, _ = lobe_samples(n, v, roughness, count)
    total = weight.sum(1, keepdim=True)
    open_share = (weight * visibility(dirs)).sum(1, keepdim=True) / total.clamp_min(1e-12)
    return torch.where(total > 1e-6, open_share, torch.ones_like(open_share))


def lobe_bounce(
    n: Tensor, v: Tensor, roughness: Tensor, visibility: SpecularVisibility, count: int = VISIBILITY_SAMPLES
) -> Tensor | None:
    """(N,3) the object's own light averaged over the specular lobe (what
    `lobe_visibility` leaves out), or None when `visibility` has none."""
    if visibility.lit is None:
        return None
    dirs, weight, _ = lobe_samples(n, v, roughness, count)
    total = weight.sum(1, keepdim=True)
    bounced = (weight[..., None] * visibility.read(dirs)[1]).sum(1) / total.clamp_min(1e-12)
    return torch.where(total > 1e-6, bounced, torch.zeros_like(bounced))


def lobe_samples(
    n: Tensor, v: Tensor, roughness: Tensor, count: int, disk: Tensor | None = None, blur_scale: float = SAMPLE_BLUR
) -> tuple[Tensor, Tensor, Tensor]:
    """The lobe's sample directions (N,K,3) world, weights (N,K) and the
    perceptual roughness (N,K) of the prefiltered level each sample reads.
    `disk` (K,2) points on the unit disk replace the fixed set
    (`disk_points(count)`): random ones make a Monte Carlo estimator of the
    lobe (benchmarks/lobe_error.py); (N,K,2) gives each point its own
    (`shifted_disk`). `blur_scale`: SAMPLE_BLUR, or SHIFTED_SAMPLE_BLUR for those.

    In the frame (t, b, n) of `tangent_frame`, v = (sin_v, 0, cos_v), so
    Heitz's stretched view is vh = (alpha sin_v, 0, cos_v) / |.| with the
    orthonormal tangents t1 = (0, 1, 0) and t2 = vh x t1 = (-vh_z, 0, vh_x).
    """
    if disk is None:
        disk = torch.tensor(disk_points(count), dtype=n.dtype, device=n.device)  # (K,2)
    alpha = alpha_from_roughness(roughness)  # (N,1)
    a2 = alpha * alpha
    t, b = tangent_frame(n, v)
    cos_v = _dot(v, n).clamp_min(NDOTV_MIN)
    sin_v = _dot(v, t).clamp_min(0.0)
    stretched = alpha * sin_v
    inv = torch.rsqrt(stretched * stretched + cos_v * cos_v)
    vh_x, vh_z = stretched * inv, cos_v * inv
    # A point on the unit disk, squeezed towards the visible half (Heitz 2018).
    if disk.dim() == 2:
        disk = disk[None]
    p1, q = disk[..., 0], disk[..., 1]  # (1,K) or (N,K)
    blend = 0.5 * (1.0 + vh_z)
    p2 = (1.0 - blend) * (1.0 - p1 * p1).clamp_min(0.0).sqrt() + blend * q  # (N,K)
    p3 = (1.0 - p1 * p1 - p2 * p2).clamp_min(0.0).sqrt()
    # Hemisphere normal h = p1 t1 + p2 t2 + p3 vh, then unstretched: m ~ (alpha h_x, alpha h_y, h_z).
    h_x, h_y, h_z = p3 * vh_x - p2 * vh_z, p1, (p2 * vh_x + p3 * vh_z).clamp_min(0.0)
    m_x, m_y = alpha * h_x, alpha * h_y
    stretch2 = m_x * m_x + m_y * m_y + h_z * h_z  # |m|^2 before normalising
    inv_m = torch.rsqrt(stretch2.clamp_min(1e-20))
    m_x, m_y, m_z = m_x * inv_m, m_y * inv_m, h_z * inv_m
    two_v_dot_m = 2.0 * (sin_v * m_x + cos_v * m_z)
    l_x, l_y, l_z = two_v_dot_m * m_x - sin_v, two_v_dot_m * m_y, two_v_dot_m * m_z - cos_v  # (N,K)
    # Weights G2 / G1 (height-correlated Smith), 0 below the horizon.
    n_dot_l = l_z.clamp_min(0.0)
    lambda_v = (a2 + (1.0 - a2) * cos_v * cos_v).sqrt()
    lambda_l = (a2 + (1.0 - a2) * n_dot_l * n_dot_l).sqrt()
    g1_v = 2.0 * cos_v / (cos_v + lambda_v)
    g2 = 2.0 * n_dot_l * cos_v / (n_dot_l * lambda_v + cos_v * lambda_l).clamp_min(1e-12)
    weight = torch.where(l_z > 0.0, g2 / g1_v, 0.0)  # (N,K)
    # Filtered importance sampling: D(m) = stretch2^2 / (pi alpha^2) for these
    # samples, the pdf of l is G1 D / (4 cos_v), sample k stands for 1 / (K pdf)
    # sr and reads the level of alpha_k = blur_scale sqrt(1 / (4 pi K pdf)).
    blur_alpha = blur_scale * alpha * torch.sqrt(cos_v / (count * g1_v)) / stretch2.clamp_min(1e-20)
    blur = torch.minimum(blur_alpha.clamp(0.0, 1.0).sqrt(), roughness.clamp(0.0, 1.0))
    l_world = l_x[..., None] * t[:, None] + l_y[..., None] * b[:, None] + l_z[..., None] * n[:, None]  # (N,K,3)
    return l_world, weight, blur

