"""The benchmark scores on synthetic arrays: what alignment forgives and what
it does not, masks, and the known values of MAE and PSNR."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.scoring import (
    albedo_scores,
    mae_scores,
    mask_iou,
    pooled_channel_scale,
    relight_scores,
    to_display,
    unpremultiply,
)


def _scene(seed: int = 0, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """A smooth-ish linear RGB image in (0.02, 0.8) and a disc mask."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = 0.1 + 0.3 * (1 + np.sin(6 * x + np.array([0, 1, 2])[:, None, None] + 4 * y)) / 2
    image = (base.transpose(1, 2, 0) + 0.05 * rng.random((size, size, 3))).astype(np.float32)
    mask = (x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.16
    return image, mask


def test_perfect_prediction_scores_infinite_psnr_and_unit_ssim() -> None:
    gt, mask = _scene()
    s = relight_scores([gt, gt], [gt, gt], [mask, mask])
    assert s["psnr"] == math.inf and s["psnr_aligned"] == math.inf
    assert s["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert np.allclose(s["scale"], 1.0)


def test_aligned_psnr_is_invariant_to_a_per_channel_scale() -> None:
    gt, mask = _scene()
    noisy = gt * (1 + 0.02 * np.random.default_rng(1).standard_normal(gt.shape)).astype(np.float32)
    reference = relight_scores([noisy], [gt], [mask])
    scaled = relight_scores([noisy * np.array([0.5, 1.7, 0.8], np.float32)], [gt], [mask])
    assert scaled["psnr_aligned"] == pytest.approx(reference["psnr_aligned"], abs=1e-3)
    assert scaled["ssim_aligned"] == pytest.approx(reference["ssim_aligned"], abs=1e-4)
    assert scaled["psnr"] < reference["psnr"] - 5  # the raw score is not forgiving
    assert np.allclose(scaled["scale"], 1 / np.array([0.5, 1.7, 0.8]), rtol=0.02)


def test_one_scale_is_pooled_over_views() -> None:
    """A scale that differs between views cannot be aligned away fully."""
    gt, mask = _scene()
    s = relight_scores([gt * 0.5, gt * 2.0], [gt, gt], [mask, mask])
    assert math.isfinite(s["psnr_aligned"]) and s["psnr_aligned"] < 25
    same = relight_scores([gt * 0.5, gt * 0.5], [gt, gt], [mask, mask])
    assert same["psnr_aligned"] == math.inf


def test_pixels_outside_the_mask_do_not_count() -> None:
    gt, mask = _scene()
    pred = gt.copy()
    pred[~mask] = 1.0  # wildly wrong background
    s = relight_scores([pred], [gt], [mask])
    assert s["psnr"] == math.inf
    assert s["ssim"] == pytest.approx(1.0, abs=1e-6)


def test_relighting_psnr_is_in_display_space() -> None:
    """An error of 0.01 in sRGB-encoded values everywhere is 40 dB."""
    gt, mask = _scene()
    from models.imageio import srgb_to_linear

    pred = srgb_to_linear(to_display(gt) + 0.01)
    s = relight_scores([pred], [gt], [mask], scale=np.ones(3))
    assert s["psnr"] == pytest.approx(40.0, abs=0.05)
    assert s["psnr_aligned"] == pytest.approx(40.0, abs=0.05)


def test_display_space_clips_highlights() -> None:
    linear = np.array([[[2.0, 1.0, 0.0]]], np.float32)
    assert np.allclose(to_display(linear), [[[1.0, 1.0, 0.0]]])


def test_albedo_psnr_aligned_and_raw() -> None:
    gt, mask = _scene()
    s = albedo_scores([gt * 0.8], [gt], [mask])
    assert s["psnr_aligned"] > 100  # float rounding only
    expected = 10 * math.log10(1 / np.mean((0.2 * gt[mask]) ** 2))
    assert s["psnr"] == pytest.approx(expected, abs=1e-3)
    assert np.allclose(s["scale"], 1.25, rtol=1e-5)


def test_albedo_noise_psnr_known_value() -> None:
    """A constant offset of 0.1 in linear albedo on one channel: MSE = 0.01/3 -> 34.77 dB raw."""
    gt, mask = _scene()
    pred = gt.copy()
    pred[..., 1] += 0.1
    s = albedo_scores([pred], [gt], [mask])
    assert s["psnr"] == pytest.approx(10 * math.log10(3 / 0.01), abs=1e-3)


def test_mae_on_known_arrays() -> None:
    gt = np.zeros((4, 4), np.float32)
    pred = np.full((4, 4), 0.25, np.float32)
    mask = np.zeros((4, 4), bool)
    mask[:2] = True
    pred[2:] = 10.0  # outside the mask: ignored
    assert mae_scores([pred], [gt], [mask]) == pytest.approx(0.25)
    # Pooled over views by pixel count: 8 pixels at 0.25 and 4 at 1.0 -> 0.5.
    mask2 = np.zeros((4, 4), bool)
    mask2[0] = True
    assert mae_scores([pred, np.ones((4, 4))], [gt, gt], [mask, mask2]) == pytest.approx(0.5)
    assert math.isnan(mae_scores([pred], [gt], [np.zeros((4, 4), bool)]))


def test_pooled_scale_skips_dark_predictions_and_masked_pixels() -> None:
    pred = np.array([[[0.5, 0.0, 0.2], [9.0, 9.0, 9.0]]], np.float32)
    gt = np.array([[[1.0, 0.3, 0.1], [1.0, 1.0, 1.0]]], np.float32)
    mask = np.array([[True, False]])
    scale = pooled_channel_scale([pred], [gt], [mask])
    assert scale == pytest.approx([2.0, 1.0, 0.5])  # green: pred 0 is skipped (scale 1)


def test_unpremultiply_and_iou() -> None:
    rgb = np.array([[[0.25, 0.5, 0.0], [0.0, 0.0, 0.0]]], np.float32)
    alpha = np.array([[0.5, 0.0]], np.float32)
    assert np.allclose(unpremultiply(rgb, alpha), [[[0.5, 1.0, 0.0], [0.0, 0.0, 0.0]]])
    a = np.array([[1, 1, 0, 0]], bool)
    b = np.array([[1, 0, 1, 0]], bool)
    assert mask_iou(a, b) == pytest.approx(1 / 3)
    assert mask_iou(np.zeros(3, bool), np.zeros(3, bool)) == 1.0


def test_ssim_on_the_mask_crop_equals_ssim_of_the_whole_image() -> None:
    from models.metrics import ssim

    gt, _ = _scene(size=64)
    rng = np.random.default_rng(3)
    pred = np.clip(gt + 0.05 * rng.standard_normal(gt.shape), 0, 1).astype(np.float32)
    mask = np.zeros((64, 64), bool)
    mask[20:34, 30:50] = True
    s = relight_scores([pred], [gt], [mask], scale=np.ones(3))
    d_gt = np.where(mask[..., None], to_display(gt), 0)
    d_pred = np.where(mask[..., None], to_display(pred), 0)
    assert s["ssim"] == pytest.approx(ssim(d_pred, d_gt, mask), abs=1e-6)
