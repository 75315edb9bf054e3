"""Occupancy without masks: a quick density-grid fit (DVGO/Plenoxels-like).

Why a density field first: an SDF surface can only be carved away at its
silhouettes (a ray through a solid stays opaque until the solid is gone),
so a mask-free SDF started from a sphere keeps a painted shell of background.
A density grid starts empty and every sample along a ray gets gradient: free
space clears where the background shells explain the pixel (helped by a
sparsity term), and density grows where the views agree on a colour. Its
thresholded opacity is the occupancy the SDF then starts from, as the visual
hull is for masked captures.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from models.reconstruction.config import ForegroundConfig
from models.reconstruction.sdf_grid import GridSpec, sample, total_variation
from models.reconstruction.views import RaySet, ray_sphere
from models.reconstruction.volume_render import Background, weights_of

_ALPHA_INIT = 1e-3  # initial opacity of one voxel: start (almost) empty


def fit_density(
    rays: RaySet,
    spec: GridSpec,
    background: Background,
    config: ForegroundConfig,
    rays_per_batch: int = 4096,
    generator: torch.Generator | None = None,
    on_step: Callable[[int, dict[str, float]], bool] | None = None,
) -> np.ndarray:
    """Fit density + colour grids (and `background`) to `rays`; return each
    node's opacity over one voxel (R, R, R) float32 (0 outside the unit
    sphere). `on_step(step, losses)` returning True stops early."""
    dev = rays.origins.device
    r = spec.resolution
    # softplus(raw + shift) * voxel = -log(1 - alpha_init) at raw = 0.
    shift = float(np.log(np.expm1(-np.log(1 - _ALPHA_INIT) / spec.voxel)))
    raw = torch.zeros(1, r, r, r, device=dev, requires_grad=True)
    colour = torch.zeros(3, r, r, r, device=dev, requires_grad=True)
    params = [{"params": [raw, colour], "lr": config.density_lr},
              {"params": list(background.parameters()), "lr": 0.5 * config.density_lr}]
    opt = torch.optim.Adam(params, betas=(0.9, 0.99))
    gen = generator or torch.Generator().manual_seed(0)
    n = config.density_samples
    for step in range(config.density_steps):
        idx = rays.batch(rays_per_batch, gen)
        o, d, target = rays.origins[idx], rays.dirs[idx], rays.rgb[idx]
        near, far = ray_sphere(o, d, 1.0)
        hit = far > near
        span = torch.where(hit, far - near, torch.zeros_like(far))
        jitter = torch.rand(len(o), n, generator=gen).to(dev)
        t = near[:, None] + span[:, None] * (torch.arange(n, device=dev) + jitter) / n
        pts = o[:, None] + t[..., None] * d[:, None]
        sigma = F.softplus(sample(raw, pts.reshape(-1, 3), spec.half_size).view(-1, n) + shift)
        alpha = 1 - torch.exp(-sigma * (span / n)[:, None])
        w = weights_of(alpha)
        rgb = torch.sigmoid(sample(colour, pts.reshape(-1, 3), spec.half_size)).view(-1, n, 3)
        opacity = w.sum(-1)
        pred = (w[..., None] * rgb).sum(1) + (1 - opacity)[:, None] * background(o, d)
        err = pred - target
        losses = {
            "photometric": ((err * err + 1e-6).sqrt() - 1e-3).mean(),
            "sparsity": config.density_sparsity * opacity.mean(),
            "density_tv": config.density_tv * total_variation(raw),
        }
        total = sum(losses.values())
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        if on_step is not None and on_step(step, {k: float(v.detach()) for k, v in losses.items()}):
            break
    with torch.no_grad():
        sigma = F.softplus(raw[0] + shift)
        voxel_alpha = 1 - torch.exp(-sigma * spec.voxel)
        inside_sphere = spec.node_positions(dev).norm(dim=-1) <= 1.0
        voxel_alpha = torch.where(inside_sphere, voxel_alpha, torch.zeros_like(voxel_alpha))
    return voxel_alpha.cpu().numpy()


def fit_occupancy(
    rays: RaySet,
    spec: GridSpec,
    background: Background,
    config: ForegroundConfig,
    rays_per_batch: int = 4096,
    generator: torch.Generator | None = None,
    on_step: Callable[[int, dict[str, float]], bool] | None = None,
) -> np.ndarray:
    """`fit_density`, thresholded at `config.occupancy_alpha`: the largest
    connected occupied piece (R, R, R) bool, cavities filled."""
    alpha = fit_density(rays, spec, background, config, rays_per_batch, generator, on_step)
    return _solid(alpha > config.occupancy_alpha)


def _solid(occupied: np.ndarray) -> np.ndarray:
    """The largest connected piece of `occupied`, its one-voxel gaps closed and
    enclosed cavities filled (the density fit leaves a surface shell with an
    empty inside, which no view sees)."""
    from scipy.ndimage import binary_dilation, binary_erosion, binary_fill_holes, label

    if not occupied.any():
        return occupied
    occupied = binary_erosion(binary_fill_holes(binary_dilation(occupied)), border_value=0)
    labels, count = label(occupied)
    if count > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        occupied = labels == sizes.argmax()
    return binary_fill_holes(occupied)
