"""From linear radiance to display pixels, and the tone space the fit compares in.

GLSL MIRROR: the viewport's final pass must apply exactly these curves and
constants: exposure -> view transform -> sRGB encoding (standard, aces) or
the AgX curve's own display encoding (agx). Inputs and outputs are (..., 3).

View transforms
- standard: clamp to [0, 1], then the sRGB OETF.
- aces: Stephen Hill's fit of the ACES RRT + sRGB ODT (BakingLab,
  "ACESFitted"): sRGB -> ACES input matrix, the rational RRT/ODT fit, output
  matrix, clamp, then the sRGB OETF. Like three.js, the input is first
  multiplied by 1 / 0.6 so scene mid-grey 0.18 lands near display 0.5.
- agx: Benjamin Wrensch's minimal AgX ("iolite", 2023, after Troy Sobotka's
  AgX): inset matrix, log2 encoding over [-12.47393, 4.026069] EV, a 6th-order
  polynomial fit of the default contrast curve, outset matrix. Its output is
  already display-encoded (sRGB-like, 2.2), so no OETF follows; clamp to [0, 1].
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

ViewTransform = Literal["standard", "aces", "agx"]
VIEW_TRANSFORMS: tuple[str, ...] = ("standard", "aces", "agx")

ACES_PRE_EXPOSURE = 1.0 / 0.6

# Row-vector form: out = rgb @ M (each matrix below is the transpose of the
# conventional column-vector matrix; GLSL: `M_glsl * rgb` with the same
# numbers listed column by column, as in the sources).
ACES_INPUT = (
    (0.59719, 0.07600, 0.02840),
    (0.35458, 0.90834, 0.13383),
    (0.04823, 0.01566, 0.83777),
)
ACES_OUTPUT = (
    (1.60475, -0.10208, -0.00327),
    (-0.53108, 1.10813, -0.07276),
    (-0.07367, -0.00605, 1.07602),
)
AGX_INSET = (
    (0.842479062253094, 0.0423282422610123, 0.0423756549057051),
    (0.0784335999999992, 0.878468636469772, 0.0784336),
    (0.0792237451477643, 0.0791661274605434, 0.879142973793104),
)
AGX_OUTSET = (
    (1.19687900512017, -0.0528968517574562, -0.0529716355144438),
    (-0.0980208811401368, 1.15190312990417, -0.0980434501171241),
    (-0.0990297440797205, -0.0989611768448433, 1.15107367264116),
)
AGX_MIN_EV = -12.47393
AGX_MAX_EV = 4.026069


def _mat(rgb: Tensor, rows: tuple[tuple[float, float, float], ...]) -> Tensor:
    return rgb @ torch.tensor(rows, dtype=rgb.dtype, device=rgb.device)


def apply_exposure(linear: Tensor, exposure_ev: float | Tensor) -> Tensor:
    """Scale linear radiance by 2^exposure_ev."""
    return linear * (2.0 ** torch.as_tensor(exposure_ev, dtype=linear.dtype, device=linear.device))


def encode_srgb(linear: Tensor) -> Tensor:
    """The piecewise sRGB OETF (IEC 61966-2-1) for x >= 0; negatives map to 0.

    Values above 1 follow the power segment (no clip), so gradients survive.
    """
    x = linear.clamp_min(0.0)
    power = 1.055 * x.clamp_min(0.0031308).pow(1.0 / 2.4) - 0.055
    return torch.where(x <= 0.0031308, 12.92 * x, power)


def decode_srgb(encoded: Tensor) -> Tensor:
    """The sRGB EOTF (inverse of encode_srgb) for x >= 0."""
    x = encoded.clamp_min(0.0)
    power = ((x.clamp_min(0.04045) + 0.055) / 1.055).pow(2.4)
    return torch.where(x <= 0.04045, x / 12.92, power)


def aces_fitted(linear: Tensor) -> Tensor:
    """Hill's ACES fit: scene-linear sRGB (after ACES_PRE_EXPOSURE) -> display-linear [0,1]."""
    v = _mat(linear * ACES_PRE_EXPOSURE, ACES_INPUT)
    v = (v * (v + 0.0245786) - 0.000090537) / (v * (0.983729 * v + 0.4329510) + 0.238081)
    return _mat(v, ACES_OUTPUT).clamp(0.0, 1.0)


def agx_contrast(x: Tensor) -> Tensor:
    """Wrensch's 6th-order polynomial fit of AgX's default contrast curve on [0,1]."""
    x2 = x * x
    x4 = x2 * x2
    return 15.5 * x4 * x2 - 40.14 * x4 * x + 31.96 * x4 - 6.868 * x2 * x + 0.4298 * x2 + 0.1191 * x - 0.00232


def agx(linear: Tensor) -> Tensor:
    """Minimal AgX: scene-linear sRGB -> display-encoded [0,1] (no OETF after)."""
    v = _mat(linear, AGX_INSET).clamp_min(1e-10)
    v = (torch.log2(v).clamp(AGX_MIN_EV, AGX_MAX_EV) - AGX_MIN_EV) / (AGX_MAX_EV - AGX_MIN_EV)
    return _mat(agx_contrast(v), AGX_OUTSET).clamp(0.0, 1.0)


def view_transform(linear: Tensor, transform: ViewTransform = "standard") -> Tensor:
    """Exposed linear radiance (...,3) -> display-encoded values in [0,1]."""
    if transform == "standard":
        return encode_srgb(linear.clamp(0.0, 1.0))
    if transform == "aces":
        return encode_srgb(aces_fitted(linear))
    if transform == "agx":
        return agx(linear)
    raise ValueError(f"unknown view transform {transform!r} (one of {', '.join(VIEW_TRANSFORMS)})")


def display(linear: Tensor, exposure_ev: float | Tensor = 0.0, transform: ViewTransform = "standard") -> Tensor:
    """Linear radiance (...,3) -> display-space [0,1]: exposure, view transform, encoding."""
    return view_transform(apply_exposure(linear, exposure_ev), transform)


def tone_for_loss(linear: Tensor, hdr_input: bool) -> Tensor:
    """The space photometric losses compare in, matched to the input photos.

    LDR photos (sRGB-encoded): the sRGB OETF, unclipped above 1 so an
    over-bright prediction still gets a gradient (mask saturated pixels if
    that matters). HDR inputs: log1p of the linear radiance. Negatives -> 0.
    """
    if hdr_input:
        return torch.log1p(linear.clamp_min(0.0))
    return encode_srgb(linear)
