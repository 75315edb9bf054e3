"""Per-view camera pose refinement: a small rotation about each camera's
centre and a translation, learned with the geometry (off by default).

Why: captures posed by structure-from-motion are often a little off, and a
pixel of misalignment blurs the photometric loss. The correction of view v is
    c2w' = [R(omega_v) R_c2w | t + tau_v]
with omega_v an axis-angle (radians) and tau_v a translation, both in the
normalised world frame and both zero at the start, so a ray (o, d) of view v
becomes (o + tau_v, R(omega_v) d).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from models.camera import Camera


def axis_angle_to_matrix(omega: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 3, 3) rotation (Rodrigues), smooth at 0."""
    theta2 = (omega * omega).sum(-1, keepdim=True)[..., None]  # (..., 1, 1)
    theta = (theta2 + 1e-12).sqrt()
    x, y, z = omega.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).view(*omega.shape[:-1], 3, 3)
    small = theta2 < 1e-8
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / (theta2 + 1e-12))
    eye = torch.eye(3, dtype=omega.dtype, device=omega.device).expand_as(k)
    return eye + a * k + b * (k @ k)


class PoseRefinement(nn.Module):
    """Learnable corrections (V, 3) rotation and (V, 3) translation."""

    def __init__(self, views: int, device: torch.device | str = "cpu"):
        super().__init__()
        self.rotation = nn.Parameter(torch.zeros(views, 3, device=device))
        self.translation = nn.Parameter(torch.zeros(views, 3, device=device))

    def apply(self, view: torch.Tensor, origins: torch.Tensor, dirs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Corrected rays of views `view` (B,): origins, dirs (B, 3)."""
        rot = axis_angle_to_matrix(self.rotation)[view]  # (B, 3, 3)
        return origins + self.translation[view], (rot @ dirs[..., None])[..., 0]

    def corrected(self, cameras: list[Camera]) -> list[Camera]:
        """`cameras` (normalised frame) with the learned corrections applied."""
        from dataclasses import replace

        rots = axis_angle_to_matrix(self.rotation.detach().double()).cpu().numpy()
        trans = self.translation.detach().double().cpu().numpy()
        out = []
        for cam, r, t in zip(cameras, rots, trans):
            c2w = np.array(cam.c2w, np.float64, copy=True)
            c2w[:3, :3] = r @ c2w[:3, :3]
            c2w[:3, 3] = c2w[:3, 3] + t
            out.append(replace(cam, c2w=c2w))
        return out

    def magnitudes(self) -> tuple[np.ndarray, np.ndarray]:
        """Per view: rotation angle (V,) in degrees and translation length (V,)."""
        r = self.rotation.detach().norm(dim=-1).cpu().numpy()
        return np.degrees(r), self.translation.detach().norm(dim=-1).cpu().numpy()
