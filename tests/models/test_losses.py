"""Photometric losses and priors: values on known inputs, masking, SSIM."""

from __future__ import annotations

import math

import pytest
import torch

from models.fit_config import LossWeights
from models.losses import (
    charbonnier_loss,
    l1_loss,
    l2_loss,
    masked_mean,
    patch_ssim,
    photometric_losses,
    ssim_map,
)
from models.priors import (
    env_total_variation,
    equirect_solid_angles,
    metallic_sparsity,
    pair_smoothness,
    white_balance,
)


def test_pixel_losses_on_known_values() -> None:
    pred = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    target = torch.tensor([[0.5, 0.5, 0.5], [1.0, 1.0, 0.0]])
    # |d| = .5 .5 .5 0 0 1 -> mean 2.5/6; d^2 = .25*3 + 1 -> 1.75/6
    assert l1_loss(pred, target).item() == pytest.approx(2.5 / 6)
    assert l2_loss(pred, target).item() == pytest.approx(1.75 / 6)
    eps = 1e-3
    expected = (3 * (math.sqrt(0.25 + eps**2) - eps) + (math.sqrt(1 + eps**2) - eps)) / 6
    assert charbonnier_loss(pred, target, eps=eps).item() == pytest.approx(expected, rel=1e-5)
    assert charbonnier_loss(target, target).item() == pytest.approx(0.0, abs=1e-7)


def test_mask_excludes_pixels() -> None:
    pred = torch.tensor([[0.2, 0.2, 0.2], [5.0, -3.0, 9.0]])
    target = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    mask = torch.tensor([1.0, 0.0])
    assert l1_loss(pred, target, mask).item() == pytest.approx(0.2)
    assert l2_loss(pred, target, mask).item() == pytest.approx(0.04)
    # weights act as a weighted mean; an all-zero mask gives 0, not NaN
    assert masked_mean(pred, torch.zeros(2)).item() == 0.0
    assert masked_mean(torch.tensor([[1.0], [3.0]]), torch.tensor([1.0, 3.0])).item() == pytest.approx(2.5)


def test_ssim_identical_is_one_and_drops_with_noise() -> None:
    g = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, 16, 16, generator=g)
    assert patch_ssim(img, img).tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    assert ssim_map(img, img, 7).mean().item() == pytest.approx(1.0, abs=1e-6)
    noisy = (img + 0.3 * torch.randn(img.shape, generator=g)).clamp(0, 1)
    assert patch_ssim(img, noisy).max().item() < 0.9
    # SSIM is symmetric
    assert torch.allclose(patch_ssim(img, noisy), patch_ssim(noisy, img), atol=1e-6)


def test_photometric_losses_weights_and_terms() -> None:
    pred = torch.full((4, 3), 0.5)
    target = torch.zeros(4, 3)
    patches = torch.rand(3, 3, 8, 8)
    terms = photometric_losses(pred, target, LossWeights(l1=2.0, l2=0.0, ssim=0.5), None, patches, patches)
    assert set(terms) == {"l1", "ssim"}
    assert terms["l1"].item() == pytest.approx(1.0)
    assert terms["ssim"].item() == pytest.approx(0.0, abs=1e-6)


def test_losses_are_differentiable() -> None:
    pred = torch.rand(8, 3, requires_grad=True)
    target = torch.rand(8, 3)
    total = sum(photometric_losses(pred, target, LossWeights(l1=1, l2=1, charbonnier=1)).values())
    total.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_priors() -> None:
    sa = equirect_solid_angles(8, 16)
    assert sa.sum().item() == pytest.approx(4 * math.pi, rel=1e-5)
    grey = torch.zeros(3, 8, 16)
    assert white_balance(grey, sa).item() == pytest.approx(0.0, abs=1e-10)
    tinted = grey.clone()
    tinted[0] += math.log(2.0)
    assert white_balance(tinted, sa).item() > 0.05
    assert env_total_variation(grey).item() == 0.0
    assert env_total_variation(torch.rand(3, 8, 16)).item() > 0
    assert metallic_sparsity(torch.tensor([0.0, 1.0])).item() == 0.5
    assert pair_smoothness(torch.ones(4, 3), torch.zeros(4, 3)).item() == 1.0
