"""Photometric losses of the fit: L1, L2, Charbonnier and SSIM, masked.

Pixel losses take flat batches `(N, C)` with an optional per-pixel weight
`(N,)` (a mask: 0 excludes a pixel); SSIM takes image patches `(B, C, P, P)`.
Everything is differentiable torch and device-agnostic.
"""

from __future__ import annotations

import torch
from torch import Tensor

from models.fit_config import LossWeights

SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2


def masked_mean(values: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean of `values` (N, C) over pixels weighted by `weight` (N,) and over
    channels; 0 when every weight is 0."""
    if weight is None:
        return values.mean()
    w = weight.reshape(-1, *([1] * (values.dim() - 1))).to(values.dtype)
    denom = w.sum() * (values.numel() // max(values.shape[0], 1))
    return (values * w).sum() / denom.clamp_min(1e-12)


def l1_loss(pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean absolute error of (N, C) batches."""
    return masked_mean((pred - target).abs(), weight)


def l2_loss(pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean squared error of (N, C) batches."""
    return masked_mean((pred - target).square(), weight)


def charbonnier_loss(pred: Tensor, target: Tensor, weight: Tensor | None = None, eps: float = 1e-3) -> Tensor:
    """Mean of sqrt(d^2 + eps^2) - eps: L2 near 0, L1 far away; 0 when equal."""
    d2 = (pred - target).square()
    return masked_mean(torch.sqrt(d2 + eps * eps) - eps, weight)


def gaussian_window(size: int = 11, sigma: float = 1.5, device: torch.device | str = "cpu") -> Tensor:
    """Normalised separable Gaussian (size,) used by the full-image SSIM."""
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def ssim_map(x: Tensor, y: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Per-pixel SSIM (B, C, H-window+1, W-window+1) of images (B, C, H, W) in
    [0, 1], with a Gaussian window (Wang et al. 2004, 'valid' borders)."""
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"ssim_map expects two (B,C,H,W) tensors of one shape, got {tuple(x.shape)}, {tuple(y.shape)}")
    c = x.shape[1]
    g = gaussian_window(window, sigma, x.device).to(x.dtype)
    kh = g.reshape(1, 1, -1, 1).expand(c, 1, -1, 1)
    kw = g.reshape(1, 1, 1, -1).expand(c, 1, 1, -1)

    def blur(t: Tensor) -> Tensor:
        return torch.nn.functional.conv2d(torch.nn.functional.conv2d(t, kh, groups=c), kw, groups=c)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    num = (2 * mx * my + SSIM_C1) * (2 * sxy + SSIM_C2)
    den = (mx * mx + my * my + SSIM_C1) * (sxx + syy + SSIM_C2)
    return num / den


def patch_ssim(x: Tensor, y: Tensor) -> Tensor:
    """SSIM (B,) of each patch pair (B, C, P, P), statistics over the whole
    patch (uniform window), averaged over channels; 1 for identical patches."""
    dims = (2, 3)
    mx, my = x.mean(dims), y.mean(dims)
    sxx = (x * x).mean(dims) - mx * mx
    syy = (y * y).mean(dims) - my * my
    sxy = (x * y).mean(dims) - mx * my
    num = (2 * mx * my + SSIM_C1) * (2 * sxy + SSIM_C2)
    den = (mx * mx + my * my + SSIM_C1) * (sxx + syy + SSIM_C2)
    return (num / den).mean(1)


def photometric_losses(
    pred: Tensor,
    target: Tensor,
    weights: LossWeights,
    mask: Tensor | None = None,
    pred_patches: Tensor | None = None,
    target_patches: Tensor | None = None,
) -> dict[str, Tensor]:
    """Weighted photometric terms, by name ('l1', 'l2', 'charbonnier', 'ssim');
    only terms with a non-zero weight are present, each already multiplied by
    its weight. pred/target (N, C) in the loss space, mask (N,); patches
    (B, C, P, P) for SSIM (ignored when the SSIM weight is 0)."""
    out: dict[str, Tensor] = {}
    if weights.l1:
        out["l1"] = weights.l1 * l1_loss(pred, target, mask)
    if weights.l2:
        out["l2"] = weights.l2 * l2_loss(pred, target, mask)
    if weights.charbonnier:
        out["charbonnier"] = weights.charbonnier * charbonnier_loss(pred, target, mask, weights.charbonnier_eps)
    if weights.ssim and pred_patches is not None and target_patches is not None and len(pred_patches):
        out["ssim"] = weights.ssim * (1 - patch_ssim(pred_patches, target_patches).mean())
    return out


def mse_to_psnr(mse: float | Tensor, max_value: float = 1.0) -> float:
    """PSNR in dB from a mean squared error (inf for 0)."""
    m = float(mse)
    if m <= 0:
        return float("inf")
    import math

    return 10.0 * math.log10(max_value * max_value / m)
