"""Visual hull: the voxels every silhouette agrees on, as the SDF to start from.

A node of the grid (inside the unit sphere) is carved away when more than
`max_misses` views project it inside their image but outside their mask;
views that do not see it (outside the frame, behind the camera) keep it. The
hull contains the object (up to mask and pose errors) and is tight where the
object is convex; its signed distance starts the photometric refinement.
"""

from __future__ import annotations

import numpy as np
import torch

from models.camera import Camera
from models.reconstruction.config import HullConfig
from models.reconstruction.sdf_grid import GridSpec, occupancy_sdf
from models.reconstruction.views import project

_CHUNK = 1 << 20  # nodes projected at once


def carve(
    cameras: list[Camera],
    masks: list[np.ndarray],
    spec: GridSpec,
    config: HullConfig | None = None,
    device: torch.device | str = "cpu",
    sphere_radius: float = 1.0,
) -> np.ndarray:
    """Boolean occupancy (R, R, R) indexed [z, y, x] of the visual hull of
    `masks` (H, W) seen by normalised `cameras`, inside the sphere."""
    from scipy.ndimage import binary_dilation

    config = config or HullConfig()

    points = spec.node_positions(device).reshape(-1, 3)
    inside_sphere = points.norm(dim=-1) <= sphere_radius + spec.voxel
    misses = torch.zeros(points.shape[0], dtype=torch.int32, device=device)
    for cam, mask in zip(cameras, masks):
        fg = np.asarray(mask) >= config.mask_threshold
        if config.dilation_px > 0:
            fg = binary_dilation(fg, iterations=config.dilation_px)
        fg_t = torch.as_tensor(fg, device=device).reshape(-1)
        h, w = fg.shape
        for start in range(0, points.shape[0], _CHUNK):
            uv, depth = project(points[start : start + _CHUNK], cam)
            col, row = uv[:, 0].floor(), uv[:, 1].floor()
            seen = (depth > 0) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
            flat = (row.clamp(0, h - 1) * w + col.clamp(0, w - 1)).long()
            outside_mask = ~torch.take(fg_t, flat)
            misses[start : start + _CHUNK] += (seen & outside_mask).to(torch.int32)
    inside = (misses <= config.max_misses) & inside_sphere
    r = spec.resolution
    return inside.view(r, r, r).cpu().numpy()


def hull_sdf(
    cameras: list[Camera],
    masks: list[np.ndarray],
    spec: GridSpec,
    config: HullConfig | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Signed distance (R, R, R) float32 on `device` of the visual hull."""
    inside = carve(cameras, masks, spec, config, device)
    return torch.as_tensor(occupancy_sdf(inside, spec.voxel), device=device)
