"""Dense voxel grids over the reconstruction cube: trilinear sampling,
finite-difference gradients and Laplacians, coarse-to-fine upsampling.

Why dense grids: on a CPU a trilinear lookup (`F.grid_sample`) is far cheaper
than an MLP, and the same code runs on a GPU.

Layout: a grid of C channels is a tensor (C, R, R, R) indexed [c, z, y, x];
node (i, j, k) sits at -h + (k, j, i) * 2h / (R - 1) for a cube of half-size h
(`align_corners=True`), so the grid's corner nodes lie on the cube's corners.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class GridSpec:
    """A cubic grid of `resolution`^3 nodes spanning [-half_size, half_size]^3."""

    resolution: int
    half_size: float

    @property
    def voxel(self) -> float:
        """Distance between neighbouring nodes."""
        return 2.0 * self.half_size / (self.resolution - 1)

    def node_positions(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """(R, R, R, 3) float32 (x, y, z) of every node, indexed [z, y, x]."""
        a = torch.linspace(-self.half_size, self.half_size, self.resolution, device=device)
        z, y, x = torch.meshgrid(a, a, a, indexing="ij")
        return torch.stack([x, y, z], -1)


def sample(volume: torch.Tensor, points: torch.Tensor, half_size: float) -> torch.Tensor:
    """Trilinear values of `volume` (C, R, R, R) at `points` (N, 3) -> (N, C).

    Points outside the cube take the border value. Differentiable with respect
    to both the volume and the points.
    """
    coords = (points / half_size).view(1, -1, 1, 1, 3).to(volume.dtype)
    out = F.grid_sample(volume.unsqueeze(0), coords, mode="bilinear", padding_mode="border", align_corners=True)
    return out.view(volume.shape[0], -1).t()


def sample_gradient(sdf: torch.Tensor, points: torch.Tensor, half_size: float, h: float) -> torch.Tensor:
    """Central-difference gradient (N, 3) of the trilinear interpolant of `sdf`
    (R, R, R) at `points` (N, 3), step `h`; differentiable."""
    offsets = torch.eye(3, dtype=points.dtype, device=points.device) * h
    probes = torch.cat([points[:, None] + offsets, points[:, None] - offsets], 1)  # (N, 6, 3)
    values = sample(sdf.unsqueeze(0), probes.reshape(-1, 3), half_size).view(-1, 6)
    return (values[:, :3] - values[:, 3:]) / (2 * h)


def node_stencil(sdf: torch.Tensor, index: torch.Tensor, voxel: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Finite differences at interior nodes `index` (K,) (flat indices into
    (R, R, R)): gradient (K, 3) (central) and Laplacian (K,). Differentiable;
    cost proportional to K, not to the grid."""
    r = sdf.shape[0]
    flat = sdf.reshape(-1)
    strides = (1, r, r * r)  # x, y, z
    centre = flat[index]
    grads, lap = [], -6.0 * centre
    for s in strides:
        plus, minus = flat[index + s], flat[index - s]
        grads.append((plus - minus) / (2 * voxel))
        lap = lap + plus + minus
    return torch.stack(grads, -1), lap / (voxel * voxel)


def interior_nodes(resolution: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Flat indices (M,) of the nodes not on the grid's faces."""
    a = torch.arange(1, resolution - 1, device=device)
    z, y, x = torch.meshgrid(a, a, a, indexing="ij")
    return ((z * resolution + y) * resolution + x).reshape(-1)


def total_variation(volume: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring nodes of (C, R, R, R)."""
    dx = volume[..., 1:] - volume[..., :-1]
    dy = volume[..., 1:, :] - volume[..., :-1, :]
    dz = volume[:, 1:] - volume[:, :-1]
    return dx.square().mean() + dy.square().mean() + dz.square().mean()


def resample(volume: torch.Tensor, resolution: int) -> torch.Tensor:
    """(C, R, R, R) -> (C, r, r, r) trilinearly, corners kept in place."""
    if volume.shape[-1] == resolution:
        return volume.clone()
    out = F.interpolate(volume.unsqueeze(0), size=(resolution,) * 3, mode="trilinear", align_corners=True)
    return out[0]


def sphere_sdf(spec: GridSpec, radius: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """(R, R, R) signed distance to a sphere of `radius` at the origin."""
    return spec.node_positions(device).norm(dim=-1) - radius


def occupancy_sdf(inside: np.ndarray, voxel: float) -> np.ndarray:
    """Signed distance (R, R, R) float32 of a boolean occupancy grid, negative
    inside, from Euclidean distance transforms; the zero level lies halfway
    between the last inside node and the first outside one."""
    from scipy.ndimage import distance_transform_edt

    inside = np.asarray(inside, bool)
    if not inside.any():
        return np.full(inside.shape, 1.0, np.float32) * voxel * inside.shape[0]
    outside_dist = distance_transform_edt(~inside)  # outside nodes: distance to the object
    inside_dist = distance_transform_edt(inside)  # inside nodes: distance to free space
    sdf = np.where(inside, -(inside_dist - 0.5), outside_dist - 0.5)
    return (sdf * voxel).astype(np.float32)
