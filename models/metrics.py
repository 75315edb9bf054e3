"""Image quality metrics for fits and benchmarks: PSNR, SSIM and the
per-channel median alignment of TensoIR (Jin et al. 2023).

Inputs are numpy arrays or torch tensors (H, W, C) with an optional mask
(H, W) (bool or weights; True/1 = scored). Results are Python floats.

Alignment: albedo and light are only recovered up to a per-channel scale
(a brighter light and a darker albedo look the same), so TensoIR scales
the prediction per channel by median(target / prediction) over the object
before scoring. `median_channel_scale` computes that ratio, `align_channels`
applies it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from models.losses import ssim_map

ArrayLike = np.ndarray | torch.Tensor


def _np(a: ArrayLike) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _hwc(a: ArrayLike) -> np.ndarray:
    x = _np(a).astype(np.float64)
    return x[:, :, None] if x.ndim == 2 else x


def _mask(mask: ArrayLike | None, shape: tuple[int, ...]) -> np.ndarray:
    if mask is None:
        return np.ones(shape[:2], bool)
    m = _np(mask)
    if m.ndim == 3:
        m = m[..., 0]
    if m.shape != shape[:2]:
        raise ValueError(f"mask shape {m.shape} does not match image {shape[:2]}")
    return m > 0.5 if m.dtype != bool else m


def mse(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Mean squared error over masked pixels and all channels."""
    p, t = _hwc(pred), _hwc(target)
    if p.shape != t.shape:
        raise ValueError(f"shapes differ: {p.shape} vs {t.shape}")
    m = _mask(mask, p.shape)
    if not m.any():
        return float("nan")
    return float(np.mean((p[m] - t[m]) ** 2))


def psnr(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None, max_value: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over masked pixels (inf when equal)."""
    e = mse(pred, target, mask)
    if e == 0:
        return float("inf")
    return 10.0 * math.log10(max_value * max_value / e)


def ssim(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None, window: int = 11, sigma: float = 1.5) -> float:
    """Structural similarity of two (H, W, C) images in [0, 1] (Gaussian
    window 11, sigma 1.5, as Wang et al. and scikit-image with
    gaussian_weights=True); with a mask, the SSIM map is averaged over masked
    pixels (window centres). Identical images give 1."""
    p, t = _hwc(pred), _hwc(target)
    if p.shape != t.shape:
        raise ValueError(f"shapes differ: {p.shape} vs {t.shape}")
    h, w = p.shape[:2]
    if min(h, w) < window:  # small images: the largest odd window that fits
        window = min(h, w) if min(h, w) % 2 else min(h, w) - 1
    x = torch.from_numpy(p).permute(2, 0, 1)[None].float()
    y = torch.from_numpy(t).permute(2, 0, 1)[None].float()
    s = ssim_map(x, y, window, sigma)[0].mean(0).numpy()  # (H-w+1, W-w+1)
    m = _mask(mask, p.shape)
    r = window // 2
    m = m[r : r + s.shape[0], r : r + s.shape[1]]
    if not m.any():
        return float("nan")
    return float(s[m].mean())


def median_channel_scale(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None, eps: float = 1e-6) -> np.ndarray:
    """Per-channel scale (C,) = median over masked pixels of target / pred
    (pixels where pred is ~0 are skipped), as TensoIR aligns albedo."""
    p, t = _hwc(pred), _hwc(target)
    m = _mask(mask, p.shape)
    scales = np.ones(p.shape[2])
    for c in range(p.shape[2]):
        pc, tc = p[..., c][m], t[..., c][m]
        ok = pc > eps
        if ok.any():
            scales[c] = float(np.median(tc[ok] / pc[ok]))
    return scales


def align_channels(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None, scale: np.ndarray | None = None) -> np.ndarray:
    """`pred` (H, W, C) multiplied per channel by `scale`, or by
    median_channel_scale(pred, target, mask) when not given."""
    p = _hwc(pred)
    s = median_channel_scale(pred, target, mask) if scale is None else np.asarray(scale, np.float64)
    return (p * s.reshape(1, 1, -1)).astype(np.float32)


def aligned_psnr(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None, max_value: float = 1.0) -> float:
    """PSNR after per-channel median alignment of `pred` to `target`."""
    return psnr(align_channels(pred, target, mask), target, mask, max_value)


def mae(pred: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Mean absolute error over masked pixels (roughness/metallic maps)."""
    p, t = _hwc(pred), _hwc(target)
    m = _mask(mask, p.shape)
    if not m.any():
        return float("nan")
    return float(np.mean(np.abs(p[m] - t[m])))
