"""Scores of a fit against the Mitsuba ground truth (pure numpy; no I/O).

Definitions (BENCHMARKS.md repeats them):

- **Pixels scored.** A pixel counts when the ray through its centre hits the
  object (the AOV `mask.A`) and, for relighting, the Mitsuba render covers it
  fully (alpha >= `FULL_COVERAGE`): silhouette pixels blend the object with
  the (transparent) background in the box-filtered path-traced image but not
  in a pixel-centre rasterization, and would score the anti-aliasing, not the
  materials.
- **Relighting** (`relight_scores`): linear RGB images are compared in
  display space, `display(x) = sRGB_encode(clip(x, 0, 1))` (exposure 0, the
  standard view transform), with PSNR (peak 1) and SSIM (Gaussian window 11,
  sigma 1.5; the SSIM map averaged over scored pixels, everything else set to
  black in both images). *Aligned* scores first multiply the prediction's
  linear RGB per channel by s_c = median over scored pixels of gt_c / pred_c,
  one s per lighting, pooled over all test views of that lighting (the
  albedo/light scale ambiguity of inverse rendering is global, so one scale
  per lighting, not one per image, as TensoIR rescales once per scene). Each
  score is the mean over test views of the per-view value.
- **Albedo** (`albedo_scores`): linear base colour in [0, 1], PSNR with peak
  1; aligned per channel by the pooled median ratio over all test views.
- **Roughness, metallic** (`mae_scores`): mean absolute error over all scored
  pixels of all test views, no alignment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from models.imageio import linear_to_srgb
from models.metrics import median_channel_scale, psnr, ssim

FULL_COVERAGE = 0.99
"""Mitsuba alpha at or above which a pixel counts as fully covered."""


def to_display(linear: np.ndarray) -> np.ndarray:
    """Linear RGB -> display space: sRGB encoding of the values clipped to [0, 1]."""
    return linear_to_srgb(np.clip(np.asarray(linear, np.float32), 0.0, 1.0))


def unpremultiply(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Straight colour (H,W,3) from premultiplied rgb and alpha (H,W) (0 where alpha is 0)."""
    a = np.asarray(alpha, np.float32)[..., None]
    return np.where(a > 1e-6, rgb / np.maximum(a, 1e-6), 0.0).astype(np.float32)


def pooled_channel_scale(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> np.ndarray:
    """Per-channel median of gt / pred (C,) over the masked pixels of every
    image together (TensoIR's alignment, one scale for a set of images)."""
    if not preds:
        return np.ones(1)
    p = np.concatenate([np.asarray(x, np.float64).reshape(-1, np.shape(x)[-1])[np.asarray(m).reshape(-1) > 0.5] for x, m in zip(preds, masks)])
    g = np.concatenate([np.asarray(x, np.float64).reshape(-1, np.shape(x)[-1])[np.asarray(m).reshape(-1) > 0.5] for x, m in zip(gts, masks)])
    if not len(p):
        return np.ones(p.shape[-1])
    return median_channel_scale(p[:, None, :], g[:, None, :])


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _masked(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(np.asarray(mask)[..., None] > 0.5, image, 0.0).astype(np.float32)


def _crop_box(mask: np.ndarray, margin: int = 8) -> tuple[slice, slice]:
    """Rows and columns of the mask's bounding box grown by `margin` (SSIM
    windows centred on masked pixels see nothing beyond it, so the masked
    SSIM of the crop equals that of the whole image, for less work)."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not len(rows):
        return slice(None), slice(None)
    h, w = mask.shape
    return (slice(max(rows[0] - margin, 0), min(rows[-1] + margin + 1, h)), slice(max(cols[0] - margin, 0), min(cols[-1] + margin + 1, w)))


def relight_scores(
    preds: Sequence[np.ndarray],
    gts: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    scale: np.ndarray | None = None,
) -> dict:
    """Relighting scores of predicted vs ground-truth linear RGB views (H,W,3)
    over bool masks (H,W) (see the module doc). `scale` (3,) overrides the
    pooled median alignment. Returns psnr, psnr_aligned, ssim, ssim_aligned
    (means over views), scale (3,) and per_view lists."""
    if scale is None:
        scale = pooled_channel_scale(preds, gts, masks)
    scale = np.asarray(scale, np.float64)
    per_view = []
    for pred, gt, mask in zip(preds, gts, masks):
        mask = np.asarray(mask) > 0.5
        box = _crop_box(mask)
        pred, gt, mask = np.asarray(pred)[box], np.asarray(gt)[box], mask[box]
        d_gt = _masked(to_display(gt), mask)
        d_raw = _masked(to_display(pred), mask)
        d_al = _masked(to_display(np.asarray(pred, np.float64) * scale), mask)
        per_view.append(
            {
                "psnr": psnr(d_raw, d_gt, mask),
                "psnr_aligned": psnr(d_al, d_gt, mask),
                "ssim": ssim(d_raw, d_gt, mask),
                "ssim_aligned": ssim(d_al, d_gt, mask),
                "pixels": int(np.count_nonzero(mask)),
            }
        )
    out = {k: _mean([v[k] for v in per_view]) for k in ("psnr", "psnr_aligned", "ssim", "ssim_aligned")}
    out["scale"] = [float(s) for s in scale]
    out["per_view"] = per_view
    return out


def albedo_scores(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> dict:
    """Albedo PSNR (linear, clipped to [0,1], peak 1), raw and aligned per
    channel by the pooled median ratio; means over views."""
    preds = [np.clip(np.asarray(p, np.float64), 0, 1) for p in preds]
    gts = [np.clip(np.asarray(g, np.float64), 0, 1) for g in gts]
    scale = pooled_channel_scale(preds, gts, masks)
    raw = [psnr(p, g, m) for p, g, m in zip(preds, gts, masks)]
    aligned = [psnr(np.clip(p * scale, 0, 1), g, m) for p, g, m in zip(preds, gts, masks)]
    return {"psnr": _mean(raw), "psnr_aligned": _mean(aligned), "scale": [float(s) for s in scale]}


def mae_scores(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> float:
    """Mean absolute error over every masked pixel of every image (no alignment)."""
    total, count = 0.0, 0
    for p, g, m in zip(preds, gts, masks):
        sel = np.asarray(m) > 0.5
        total += float(np.abs(np.asarray(p, np.float64)[sel] - np.asarray(g, np.float64)[sel]).sum())
        count += int(np.count_nonzero(sel)) * (1 if np.ndim(p) == 2 else int(np.shape(p)[-1]))
    return total / count if count else float("nan")


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks (1 when both are empty)."""
    a, b = np.asarray(a) > 0.5, np.asarray(b) > 0.5
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def error_image(pred_display: np.ndarray, gt_display: np.ndarray, gain: float = 4.0) -> np.ndarray:
    """|pred - gt| in display space times `gain`, clipped (for comparison figures)."""
    return np.clip(np.abs(np.asarray(pred_display) - np.asarray(gt_display)) * gain, 0.0, 1.0).astype(np.float32)
