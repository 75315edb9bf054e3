"""Regularisers of the fit: material smoothness, light white balance,
metallic sparsity, environment smoothness, exposure anchoring.

All return scalar tensors (unweighted); the fitter multiplies by the weights
in PriorWeights.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def pair_smoothness(a: Tensor, b: Tensor) -> Tensor:
    """Stochastic total variation: mean |a - b| of map values (N, C) sampled at
    pairs of nearby texture coordinates."""
    return (a - b).abs().mean()


def equirect_solid_angles(height: int, width: int, device: torch.device | str = "cpu") -> Tensor:
    """Solid angle (H, W) of each texel of an equirectangular map; sums to 4 pi."""
    theta0 = torch.arange(height, dtype=torch.float32, device=device) * (math.pi / height)
    band = (torch.cos(theta0) - torch.cos(theta0 + math.pi / height)) * (2 * math.pi / width)
    return band[:, None].expand(height, width)


def white_balance(log_env: Tensor, solid_angle: Tensor) -> Tensor:
    """Squared spread of the log of the environment's mean colour around its
    grey level: 0 for a white-balanced light. log_env (3, H, W), solid_angle (H, W)."""
    mean_rgb = (log_env.exp() * solid_angle).sum((1, 2)) / solid_angle.sum()
    log_mean = torch.log(mean_rgb.clamp_min(1e-8))
    return (log_mean - log_mean.mean()).square().mean()


def metallic_sparsity(metallic: Tensor) -> Tensor:
    """Mean metallic (values in [0, 1]): an L1 pull towards dielectric."""
    return metallic.mean()


def env_total_variation(log_env: Tensor) -> Tensor:
    """Mean absolute difference of neighbouring texels of a log environment
    (3, H, W), wrapping around in longitude."""
    dx = log_env - torch.roll(log_env, 1, dims=2)
    dy = log_env[:, 1:] - log_env[:, :-1]
    return dx.abs().mean() + dy.abs().mean()


def exposure_anchor(log2_exposure: Tensor) -> Tensor:
    """Mean squared per-image log2 exposure offset."""
    return log2_exposure.square().mean()


def env_saturation(log_env: Tensor, solid_angle: Tensor) -> Tensor:
    """Solid-angle-weighted mean squared deviation of each texel's log
    chromaticity from the map's mean log chromaticity. log_env (3, H, W)."""
    chroma = log_env - log_env.mean(0, keepdim=True)  # (3,H,W), intensity removed
    w = solid_angle / solid_angle.sum()
    mean = (chroma * w).sum((1, 2), keepdim=True)
    return ((chroma - mean).square().sum(0) * w).sum()

