"""Environment-light tables (split sum) and their lookups, in torch.

GLSL MIRROR: the GL renderer uploads the arrays made here *unchanged* and must
sample them exactly as the lookups below do. The tables are computed only
here; GLSL never recomputes them.

Additions to the agreed contract (nothing in it changed):
- `dfg_dielectric_average(size)`, a second small table: the BRDF's diffuse
  layer is coupled to the specular one in an energy-conserving way that
  needs it (renderer/brdf.py explains why glTF's (1 - F(VdotH)) is not).
- the DFG lookup `sample_dfg` lives in renderer/brdf.py (re-exported here).
- renderer/specular_lobe.py reads the specular stack at many directions
  across the GGX lobe (filtered importance sampling); renderer/shade.py's
  single lookup, when there is one, is along Lagarde's dominant direction,
  not the bare reflection vector (see there).

Tables
- `dfg_table(size)` (size, size, 2) float32: entry [i, j] = (A, B) for
  roughness r = (i + 0.5) / size (clamped to MIN_ROUGHNESS) and
  NdotV = (j + 0.5) / size, so that the split-sum specular is
  prefiltered * (F0 * A + B). Upload as a 2-channel 2D texture whose row i
  (t = (i + 0.5) / size) is roughness i; LINEAR filter, CLAMP_TO_EDGE;
  sample with texture(dfg, vec2(NdotV, roughness)) (torch: brdf.sample_dfg).
- `dfg_dielectric_average(size)` (size,) float32: E_avg(r_i) = 2 int E mu dmu
  of E = 0.04 A + B over row i (midpoint rule over the NdotV texel centres),
  used by the BRDF's energy-conserving diffuse coupling (renderer/brdf.py).
  Upload as a size x 1 R32F texture, LINEAR, CLAMP_TO_EDGE; sample with
  texture(dfg_avg, vec2(roughness, 0.5)) (torch: brdf.sample_roughness_table).
- `PrefilteredEnvironment.specular` (L, H, W, 3): level k is the map
  convolved with the GGX lobe of roughness r_k = k / (L - 1) (Karis's
  N = V = R assumption, weighted by NdotL; level 0 is the map itself,
  resampled to the stack's size).
  Upload as a 3D texture (depth = level, rows as stored: row 0 at t = 0 is
  the top of the map, direction +Y); LINEAR filter; wrap S = REPEAT,
  T = CLAMP_TO_EDGE, R = CLAMP_TO_EDGE; sample with
  texture(spec, vec3(u, v, (clamp(r, 0, 1) * (L - 1) + 0.5) / L)).
- `PrefilteredEnvironment.irradiance` (h, w, 3): cosine-convolved radiance
  divided by pi, so Lambertian diffuse = albedo * irradiance(n). Upload and
  sample like the radiance map: texture(irr, vec2(u, v)), REPEAT / CLAMP.

Lookup direction (models/lighting.py convention): the environment rotation is
applied to the lookup direction, d_env = R_y(-rotation) d, then
u = 0.5 + atan(d.x, -d.z) / (2 pi), v = acos(clamp(d.y, -1, 1)) / pi.

How the convolutions are done: on an equirect grid the spherical kernel
between output row i and source row j depends only on the longitude
difference, so each level is an exact discrete convolution over every source
texel (solid-angle weighted, normalised by the kernel's own discrete sum so a
uniform map stays exactly uniform) computed with an FFT along longitude:
O(H^2 W log W) instead of O(H^2 W^2). Very bright suns are therefore spread
by the true GGX lobe (no sampling noise, no fireflies). The source is first
area-averaged (solid-angle weighted) to the output resolution.
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from renderer.brdf import (  # noqa: F401  (sample_dfg re-exported: it is the DFG lookup)
    DIELECTRIC_F0,
    MIN_ROUGHNESS,
    sample_dfg,
    smith_v_height_correlated,
)

TABLES_DIR = Path(__file__).resolve().parents[1] / "resources" / "tables"
DFG_SAMPLES = 8192
"""Hammersley samples per DFG texel."""
DFG_VERSION = 1
"""Bump when the DFG formula changes so cached .npy files are not reused."""


# ----------------------------------------------------------------------------
# DFG (environment BRDF) table
# ----------------------------------------------------------------------------


def _hammersley(n: int) -> tuple[Tensor, Tensor]:
    """The 2D Hammersley set (n,), (n,) in float64: (i / n, radical_inverse_2(i))."""
    i = np.arange(n, dtype=np.uint64)
    bits = np.zeros(n, np.float64)
    scale = 0.5
    k = i.copy()
    while k.any():
        bits += (k & np.uint64(1)).astype(np.float64) * scale
        k >>= np.uint64(1)
        scale *= 0.5
    return torch.from_numpy(i.astype(np.float64) / n), torch.from_numpy(bits)


def compute_dfg_table(size: int = 64, samples: int = DFG_SAMPLES) -> np.ndarray:
    """Importance-sample GGX (Karis 2013) to get (A, B) per (roughness, NdotV).

    A = mean((1 - Fc) G_vis), B = mean(Fc G_vis) with Fc = (1 - VdotH)^5 and
    G_vis = V * 4 NdotL VdotH / NdotH (V the height-correlated Smith term).
    Returns (size, size, 2) float32.
    """
    xi1, xi2 = _hammersley(samples)
    phi = 2.0 * math.pi * xi1  # (S,)
    n_dot_v = (torch.arange(size, dtype=torch.float64) + 0.5) / size  # (J,)
    view = torch.stack([torch.sqrt(1.0 - n_dot_v**2), torch.zeros_like(n_dot_v), n_dot_v], -1)
    out = np.zeros((size, size, 2), np.float32)
    for i in range(size):
        r = max((i + 0.5) / size, MIN_ROUGHNESS)
        alpha = r * r
        cos_t = torch.sqrt((1.0 - xi2) / (1.0 + (alpha * alpha - 1.0) * xi2))
        sin_t = torch.sqrt(1.0 - cos_t**2)
        h = torch.stack([sin_t * torch.cos(phi), sin_t * torch.sin(phi), cos_t], -1)  # (S,3)
        v_dot_h = view @ h.T  # (J,S)
        n_dot_l = 2.0 * v_dot_h * h[:, 2] - n_dot_v[:, None]
        n_dot_h = h[:, 2].expand_as(v_dot_h)
        valid = n_dot_l > 0
        nl = n_dot_l.clamp_min(0.0)
        vdh = v_dot_h.clamp(0.0, 1.0)
        vis = smith_v_height_correlated(n_dot_v[:, None], nl, torch.tensor(alpha, dtype=torch.float64))
        g_vis = torch.where(valid, vis * 4.0 * nl * vdh / n_dot_h, torch.zeros_like(vis))
        fc = (1.0 - vdh) ** 5
        out[i, :, 0] = ((1.0 - fc) * g_vis).mean(1).numpy()
        out[i, :, 1] = (fc * g_vis).mean(1).numpy()
    return out


@functools.lru_cache(maxsize=4)
def dfg_table(size: int = 64) -> np.ndarray:
    """The (size, size, 2) float32 DFG table (read-only), computed once.

    Cached in memory and as resources/tables/dfg_v{DFG_VERSION}_{size}.npy
    (written on first use; deterministic, so any copy is the same).
    """
    path = TABLES_DIR / f"dfg_v{DFG_VERSION}_{size}.npy"
    table = None
    if path.is_file():
        try:
            table = np.load(path)
            if table.shape != (size, size, 2) or table.dtype != np.float32:
                table = None
        except (OSError, ValueError):
            table = None
    if table is None:
        table = compute_dfg_table(size)
        try:
            TABLES_DIR.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".npy", dir=TABLES_DIR)
            with os.fdopen(fd, "wb") as f:
                np.save(f, table)
            os.chmod(tmp, 0o644)  # mkstemp makes it private
            os.replace(tmp, path)
        except OSError:
            pass  # read-only install: keep the in-memory copy
    table.setflags(write=False)
    return table


def dfg_dielectric_average(size: int = 64) -> np.ndarray:
    """(size,) float32 E_avg per roughness row of `dfg_table(size)` (read-only)."""
    table = dfg_table(size).astype(np.float64)
    mu = (np.arange(size) + 0.5) / size
    average = ((DIELECTRIC_F0 * table[..., 0] + table[..., 1]) @ (2.0 * mu / size)).astype(np.float32)
    average.setflags(write=False)
    return average


# ----------------------------------------------------------------------------
# Prefiltering
# ----------------------------------------------------------------------------


@dataclass
class PrefilteredEnvironment:
    """The split-sum environment tables (numpy, float32, linear radiance).

    specular (L, H, W, 3): level k = GGX-prefiltered radiance for roughness
    k / (L - 1), all levels the same size (a 3D texture). irradiance (h, w, 3):
    cosine-convolved radiance / pi.
    """

    specular: np.ndarray
    irradiance: np.ndarray

    @property
    def levels(self) -> int:
        return int(self.specular.shape[0])


def level_roughness(levels: int) -> list[float]:
    """Perceptual roughness of each prefiltered level: r_k = k / (L - 1)."""
    return [k / max(levels - 1, 1) for k in range(levels)]


def _row_solid_angles(height: int, width: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Solid angle (H,) of one texel in each row of a (height, width) equirect."""
    edges = torch.linspace(0.0, math.pi, height + 1, dtype=dtype, device=device)
    return (torch.cos(edges[:-1]) - torch.cos(edges[1:])) * (2.0 * math.pi / width)


def resample_equirect(radiance: Tensor, width: int) -> Tensor:
    """(H,W,3) equirect -> (width/2, width, 3): solid-angle-weighted area
    average when shrinking, bilinear lookups at texel centres when growing."""
    h_src, w_src = radiance.shape[0], radiance.shape[1]
    height = width // 2
    if (h_src, w_src) == (height, width):
        return radiance
    if width <= w_src and height <= h_src:
        weight = _row_solid_angles(h_src, w_src, radiance.dtype, radiance.device)[:, None, None]
        x = (radiance * weight).permute(2, 0, 1)[None]  # (1,3,H,W)
        w = weight.expand(h_src, w_src, 1).permute(2, 0, 1)[None]
        num = F.adaptive_avg_pool2d(x, (height, width))
        den = F.adaptive_avg_pool2d(w, (height, width))
        return (num / den)[0].permute(1, 2, 0)
    v = (torch.arange(height, dtype=radiance.dtype, device=radiance.device) + 0.5) / height
    u = (torch.arange(width, dtype=radiance.dtype, device=radiance.device) + 0.5) / width
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    return _sample_equirect_uv(radiance, torch.stack([uu, vv], -1).reshape(-1, 2)).reshape(height, width, -1)


def _kernel_spectra(
    height: int, width: int, alphas: tuple[float | None, ...], dtype: torch.dtype, device: torch.device
) -> tuple[Tensor, ...]:
    """Real spectra (M, H, H) of the normalised zonal kernels between output
    row i and source row j along longitude (M = width // 2 + 1), one per alpha.

    alpha None: the cosine lobe (irradiance); else GGX D(h) * NdotL with
    N = V = R (Karis). Weights include texel solid angles and are divided by
    their sum per output row. Built once per size (`_stacked_spectra` caches
    them: the fitter prefilters every step).
    """
    theta = (torch.arange(height, dtype=torch.float64, device=device) + 0.5) * (math.pi / height)
    dphi = torch.arange(width, dtype=torch.float64, device=device) * (2.0 * math.pi / width)
    st = torch.sin(theta)
    # x = (1 - cos(angle between R and l)) / 2 = 1 - NdotH^2, in a cancellation-free form.
    half_dtheta = torch.sin(0.5 * (theta[:, None] - theta[None, :])) ** 2  # (H,H)
    sin_product = (st[:, None] * st[None, :]).to(dtype)[:, :, None]
    x = half_dtheta.to(dtype)[:, :, None] + sin_product * (torch.sin(0.5 * dphi) ** 2).to(dtype)  # (H_out, H_src, W)
    n_dot_l = (1.0 - 2.0 * x).clamp_min_(0.0)
    solid_angle = _row_solid_angles(height, width, torch.float64, device).to(dtype)[None, :, None]
    spectra = []
    for alpha in alphas:
        if alpha is None:
            kernel = n_dot_l * solid_angle
        else:
            a2 = alpha * alpha
            t = x * (1.0 - a2) + a2
            kernel = t.square_().reciprocal_().mul_(n_dot_l).mul_(solid_angle)  # D up to a constant
        kernel /= kernel.sum(dim=(1, 2), keepdim=True)
        spectrum = torch.fft.rfft(kernel, dim=-1).real  # symmetric kernel: real spectrum
        spectra.append(spectrum.permute(2, 0, 1).contiguous())  # (M, H_out, H_src)
    return tuple(spectra)


@functools.lru_cache(maxsize=4)
def _stacked_spectra(
    height: int, width: int, alphas: tuple[float | None, ...], dtype: torch.dtype, device: torch.device
) -> Tensor:
    """`_kernel_spectra` one above the other (M, K*H, H): one product
    convolves with all K kernels."""
    return torch.cat(_kernel_spectra(height, width, alphas, dtype, device), dim=1).contiguous()


def _convolve(radiance: Tensor, spectrum: Tensor) -> Tensor:
    """Exact spherical convolutions (K,H,W,C) of an equirect (H,W,C) with K
    zonal kernels given by their longitude spectra one above the other
    (M, K*H, H). One FFT, product and inverse FFT for all K: the fitter
    prefilters every step, and per kernel the calls cost more than the sums."""
    height, width, channels = radiance.shape
    count = spectrum.shape[1] // height
    src = torch.fft.rfft(radiance, dim=1)  # (H, M, C) complex
    src = torch.view_as_real(src).permute(1, 0, 2, 3).reshape(spectrum.shape[0], height, 2 * channels)
    out = torch.bmm(spectrum, src)  # (M, K*H, 2C)
    out = out.reshape(-1, count, height, channels, 2).permute(1, 2, 0, 3, 4).contiguous()
    result = torch.fft.irfft(torch.view_as_complex(out), n=width, dim=2)
    return result.clamp_min(0.0)


def prefilter_torch(
    radiance: Tensor, levels: int = 6, width: int | None = None, irradiance_width: int = 32
) -> tuple[Tensor, Tensor]:
    """Differentiable prefilter of an equirect radiance tensor (H,W,3).

    Returns specular (L, width/2, width, 3) and irradiance
    (irradiance_width/2, irradiance_width, 3), on radiance's device and dtype.
    `width` None keeps the source width. About a millisecond per level at 32x64.
    """
    width = radiance.shape[1] if width is None else width
    base = resample_equirect(radiance, width)
    alphas = tuple(max(r, MIN_ROUGHNESS) ** 2 for r in level_roughness(levels)[1:])
    stack = [base[None]]
    if alphas:
        stack.append(_convolve(base, _stacked_spectra(base.shape[0], width, alphas, radiance.dtype, radiance.device)))
    irr_src = resample_equirect(radiance, irradiance_width)
    irr_spectrum = _stacked_spectra(irr_src.shape[0], irradiance_width, (None,), radiance.dtype, radiance.device)
    return torch.cat(stack), _convolve(irr_src, irr_spectrum)[0]


def prefilter_environment(
    radiance: np.ndarray,
    levels: int = 6,
    width: int = 256,
    irradiance_width: int = 32,
    device: str | torch.device = "cpu",
) -> PrefilteredEnvironment:
    """Prefilter an (H,W,3) linear radiance map for the split sum (float32 out).

    Float32 throughout (relative error vs float64 < 3e-4 on a 65000-nit sun).
    The first call at a resolution builds and caches the kernels.
    """
    device = torch.device(device)
    src = torch.as_tensor(np.ascontiguousarray(radiance[..., :3]), dtype=torch.float32, device=device)
    with torch.no_grad():
        spec, irr = prefilter_torch(src, levels, width, irradiance_width)
    return PrefilteredEnvironment(spec.float().cpu().numpy(), irr.float().cpu().numpy())


# ----------------------------------------------------------------------------
# Lookups (differentiable w.r.t. the maps, roughness and directions)
# ----------------------------------------------------------------------------


def rotate_to_environment(dirs: Tensor, rotation_deg: float | Tensor) -> Tensor:
    """World directions (N,3) -> environment-map directions: R_y(-rotation) d."""
    a = torch.as_tensor(rotation_deg, dtype=dirs.dtype, device=dirs.device) * (math.pi / 180.0)
    c, s = torch.cos(a), torch.sin(a)
    x, y, z = dirs.unbind(-1)
    return torch.stack([c * x - s * z, y, s * x + c * z], -1)


def direction_to_uv(dirs: Tensor) -> Tensor:
    """Unit directions (N,3) -> equirect (u, v) (N,2), NaN-free gradients at the poles.

    u = 0.5 + atan2(x, -z) / (2 pi), v = acos(y) / pi (computed as
    atan2(sqrt(x^2 + z^2), y) / pi, the same value).
    """
    x, y, z = dirs.unbind(-1)
    xz2 = x * x + z * z
    off_axis = xz2 > 1e-20
    u = 0.5 + torch.atan2(torch.where(off_axis, x, 0.0), torch.where(off_axis, -z, 1.0)) / (2.0 * math.pi)
    v = torch.atan2(torch.sqrt(xz2.clamp_min(1e-20)), y) / math.pi
    return torch.stack([u, v], -1)


def _wrap_columns(images: Tensor) -> Tensor:
    """(..., H, W, C) -> (..., H, W + 2, C) with one wrapped column each side."""
    return torch.cat([images[..., -1:, :], images, images[..., :1, :]], dim=-2)


def _wrapped_x(u: Tensor, width: int) -> Tensor:
    """grid_sample x (align_corners=False) for u on a map padded by `_wrap_columns`."""
    return (u * width + 1.0) / (width + 2) * 2.0 - 1.0


def _sample_equirect_uv(image: Tensor, uv: Tensor) -> Tensor:
    height, width, channels = image.shape
    padded = _wrap_columns(image).permute(2, 0, 1)[None]  # (1,C,H,W+2)
    grid = torch.stack([_wrapped_x(uv[:, 0], width), uv[:, 1] * 2.0 - 1.0], -1)[None, None]
    out = F.grid_sample(padded, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out[0, :, 0].T  # (N,C)


def sample_equirect(image: Tensor, dirs: Tensor) -> Tensor:
    """Bilinear lookup of an equirect map (H,W,C) along unit directions (N,3) -> (N,C).

    Same as GL texture(sampler2D, vec2(u, v)) with REPEAT on u, CLAMP on v.
    """
    return _sample_equirect_uv(image, direction_to_uv(dirs))


def sample_specular(specular: Tensor, dirs: Tensor, roughness: Tensor) -> Tensor:
    """Trilinear lookup in the prefiltered stack (L,H,W,C) -> (N,C).

    dirs (N,3) unit (environment frame), roughness (N,1) perceptual. Same as
    GL texture(sampler3D, vec3(u, v, (clamp(r,0,1) * (L-1) + 0.5) / L)) with
    REPEAT on u, CLAMP on v and w.
    """
    levels, height, width, channels = specular.shape
    uv = direction_to_uv(dirs)
    w = (roughness[:, 0].clamp(0.0, 1.0) * (levels - 1) + 0.5) / levels
    padded = _wrap_columns(specular).permute(3, 0, 1, 2)[None]  # (1,C,L,H,W+2)
    grid = torch.stack([_wrapped_x(uv[:, 0], width), uv[:, 1] * 2.0 - 1.0, w * 2.0 - 1.0], -1)
    out = F.grid_sample(padded, grid[None, None, None], mode="bilinear", padding_mode="border", align_corners=False)
    return out[0, :, 0, 0].T
