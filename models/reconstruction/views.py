"""The reconstruction's normalised frame and its training rays.

Reconstruction works where the capture's bounding sphere is the unit sphere at
the origin: `Frame` maps world points and cameras there and back, so grid
resolutions, sharpness and learning rates mean the same for every capture.
`RaySet` holds every pixel of every training view as a ray on `device`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from models.camera import Camera


@dataclass(frozen=True)
class Frame:
    """World -> normalised: p_n = (p_w - centre) / radius."""

    centre: np.ndarray
    radius: float

    def camera(self, camera: Camera) -> Camera:
        """The same camera in the normalised frame (rotation and intrinsics kept)."""
        c2w = np.array(camera.c2w, np.float64, copy=True)
        c2w[:3, 3] = (c2w[:3, 3] - self.centre) / self.radius
        return replace(camera, c2w=c2w)

    def to_world(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, np.float64) * self.radius + self.centre

    def to_world_camera(self, camera: Camera) -> Camera:
        c2w = np.array(camera.c2w, np.float64, copy=True)
        c2w[:3, 3] = c2w[:3, 3] * self.radius + self.centre
        return replace(camera, c2w=c2w)


def project(points: torch.Tensor, camera: Camera) -> tuple[torch.Tensor, torch.Tensor]:
    """Pinhole projection of (N, 3) points -> pixel coordinates (N, 2) (x right,
    y down, pixel centres at +0.5) and depth along the view (N,), > 0 in front.
    Ignores distortion (views are undistorted)."""
    w2c = torch.as_tensor(camera.w2c, dtype=points.dtype, device=points.device)
    pc = points @ w2c[:3, :3].t() + w2c[:3, 3]
    depth = -pc[:, 2]
    safe = torch.where(depth.abs() > 1e-9, depth, torch.full_like(depth, 1e-9))
    u = camera.fx * pc[:, 0] / safe + camera.cx
    v = -camera.fy * pc[:, 1] / safe + camera.cy
    return torch.stack([u, v], -1), depth


def ray_sphere(origins: torch.Tensor, dirs: torch.Tensor, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Entry and exit distances (N,) of unit-direction rays through a sphere at
    the origin; exit < entry marks a miss. Entry is clamped at 0 (origins
    inside the sphere)."""
    b = (origins * dirs).sum(-1)
    c = (origins * origins).sum(-1) - radius * radius
    disc = b * b - c
    root = disc.clamp_min(0).sqrt()
    near = (-b - root).clamp_min(0)
    far = torch.where(disc > 0, -b + root, torch.full_like(b, -1.0))
    return near, far


@dataclass(frozen=True)
class RaySet:
    """Every training pixel as a ray in the normalised frame, on one device.

    origins, dirs (N, 3) float32 (dirs unit); rgb (N, 3) linear float32;
    mask (N,) float32 in [0, 1] (all ones without masks); view (N,) int64
    index of the ray's view; near, far (N,) where the ray crosses the unit
    sphere (far < near: it misses).
    """

    origins: torch.Tensor
    dirs: torch.Tensor
    rgb: torch.Tensor
    mask: torch.Tensor
    view: torch.Tensor
    near: torch.Tensor
    far: torch.Tensor
    has_masks: bool

    def __len__(self) -> int:
        return int(self.origins.shape[0])

    @staticmethod
    def build(
        cameras: list[Camera],
        images: list[np.ndarray],
        masks: list[np.ndarray | None] | None,
        device: torch.device | str = "cpu",
        sphere_radius: float = 1.0,
        keep_missing: bool = False,
        valid: list[np.ndarray | None] | None = None,
    ) -> RaySet:
        """Rays of normalised `cameras` with their `images` (H, W, 3) and `masks`
        (H, W) or None. Rays that miss the sphere are dropped unless
        `keep_missing` (mask-free captures: they teach the background), and so
        are pixels outside `valid` (H, W) bool, per view (None: all valid)."""
        has_masks = masks is not None and all(m is not None for m in masks)
        parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("o", "d", "c", "m", "v")}
        for i, (cam, image) in enumerate(zip(cameras, images)):
            o, d = cam.pixel_rays()
            o_t = torch.as_tensor(o.reshape(-1, 3), dtype=torch.float32)
            d_t = torch.as_tensor(d.reshape(-1, 3), dtype=torch.float32)
            rgb = torch.as_tensor(np.asarray(image, np.float32)[..., :3].reshape(-1, 3))
            m = torch.as_tensor(np.asarray(masks[i], np.float32).reshape(-1)) if has_masks else torch.ones(len(rgb))
            near, far = ray_sphere(o_t, d_t, sphere_radius)
            keep = torch.ones_like(near, dtype=torch.bool) if keep_missing else far > near
            if valid is not None and valid[i] is not None:
                keep &= torch.as_tensor(np.asarray(valid[i], bool).reshape(-1))
            parts["o"].append(o_t[keep])
            parts["d"].append(d_t[keep])
            parts["c"].append(rgb[keep])
            parts["m"].append(m[keep])
            parts["v"].append(torch.full((int(keep.sum()),), i, dtype=torch.int64))
        o, d = torch.cat(parts["o"]).to(device), torch.cat(parts["d"]).to(device)
        near, far = ray_sphere(o, d, sphere_radius)
        return RaySet(
            o, d, torch.cat(parts["c"]).to(device), torch.cat(parts["m"]).to(device),
            torch.cat(parts["v"]).to(device), near, far, has_masks,
        )

    def batch(self, size: int, generator: torch.Generator) -> torch.Tensor:
        """Indices (size,) of a random batch of rays (on this set's device)."""
        idx = torch.randint(0, len(self), (size,), generator=generator, device="cpu")
        return idx.to(self.origins.device)
