"""PSNR, SSIM and TensoIR's per-channel median alignment."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models.metrics import aligned_psnr, align_channels, mae, median_channel_scale, psnr, ssim


def test_psnr_known_value_and_mask() -> None:
    a = np.zeros((4, 4, 3), np.float32)
    b = np.full((4, 4, 3), 0.1, np.float32)
    assert psnr(a, b) == pytest.approx(20.0)
    assert psnr(a, a) == math.inf
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = True
    b2 = b.copy()
    b2[1:] = 1.0  # outside the mask: ignored
    assert psnr(a, b2, mask) == pytest.approx(20.0)
    assert psnr(torch.from_numpy(a), torch.from_numpy(b)) == pytest.approx(20.0)


def test_ssim_identical_and_degraded() -> None:
    rng = np.random.default_rng(0)
    img = rng.random((32, 32, 3)).astype(np.float32)
    assert ssim(img, img) == pytest.approx(1.0, abs=1e-6)
    noisy = np.clip(img + rng.normal(0, 0.2, img.shape), 0, 1)
    assert ssim(img, noisy) < 0.9
    # a constant offset lowers only the luminance term
    assert 0.9 < ssim(img * 0.5 + 0.25, img * 0.5 + 0.3) < 1.0
    # masks and small images work
    assert ssim(img[:5, :5], img[:5, :5]) == pytest.approx(1.0, abs=1e-6)
    m = np.zeros((32, 32), bool)
    m[8:24, 8:24] = True
    assert ssim(img, img, m) == pytest.approx(1.0, abs=1e-6)


def test_median_alignment_undoes_channel_scale() -> None:
    rng = np.random.default_rng(1)
    gt = rng.uniform(0.1, 0.9, (16, 16, 3)).astype(np.float32)
    scale = np.array([2.0, 0.5, 1.25])
    pred = gt / scale
    assert median_channel_scale(pred, gt) == pytest.approx(scale, rel=1e-5)
    assert np.allclose(align_channels(pred, gt), gt, atol=1e-5)
    assert psnr(pred, gt) < 20
    assert aligned_psnr(pred, gt) > 90
    mask = np.ones((16, 16), bool)
    mask[:, :8] = False
    pred2 = pred.copy()
    pred2[:, :8] = 0.0  # outside the mask, would break an unmasked median
    assert median_channel_scale(pred2, gt, mask) == pytest.approx(scale, rel=1e-5)


def test_mae() -> None:
    assert mae(np.zeros((2, 2)), np.full((2, 2), 0.25)) == pytest.approx(0.25)
