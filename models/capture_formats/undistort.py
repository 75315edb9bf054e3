"""Resampling photos into the cameras Relit fits with: lens undistortion
(to a pinhole camera with the same intrinsics) and area downscaling.

Undistortion needs no iterative inversion: for each pixel of the pinhole
result, the forward distortion model says where that ray landed in the photo,
and the photo is sampled there (bilinear). Outside the photo the nearest edge
pixel is used; `coverage` says which result pixels had real data.
"""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock

import numpy as np

from models.camera import Camera

_GRIDS: OrderedDict[tuple, np.ndarray] = OrderedDict()
_GRIDS_LOCK = Lock()
_GRIDS_MAX = 4


def _intrinsics_key(c: Camera) -> tuple:
    return (c.width, c.height, c.fx, c.fy, c.cx, c.cy, c.distortion)


def source_coords(source: Camera, target: Camera) -> np.ndarray:
    """(H,W,2) float32 continuous pixel coordinates (u, v) in the `source`
    photo (pixel centres at +0.5) seen by each pixel of `target`.

    Only intrinsics matter: both cameras are assumed to share the pose.
    """
    if not target.distortion.is_identity:
        raise ValueError("the target of a resampling must be a pinhole camera")
    key = (_intrinsics_key(source), _intrinsics_key(target))
    with _GRIDS_LOCK:
        if key in _GRIDS:
            _GRIDS.move_to_end(key)
            return _GRIDS[key]
    u, v = np.meshgrid(np.arange(target.width) + 0.5, np.arange(target.height) + 0.5)
    x = (u - target.cx) / target.fx
    y = (v - target.cy) / target.fy
    xd, yd = source.distortion.distort(x, y)
    grid = np.stack([source.fx * xd + source.cx, source.fy * yd + source.cy], -1).astype(np.float32)
    with _GRIDS_LOCK:
        _GRIDS[key] = grid
        while len(_GRIDS) > _GRIDS_MAX:
            _GRIDS.popitem(last=False)
    return grid


def remap(image: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Bilinear samples of `image` (H,W[,C]) at continuous pixel coordinates
    `coords` (H',W',2); clamps to the edge outside the image."""
    import torch
    import torch.nn.functional as F

    squeeze = image.ndim == 2
    img = image[:, :, None] if squeeze else image
    h, w = img.shape[:2]
    t = torch.from_numpy(np.ascontiguousarray(img, np.float32)).permute(2, 0, 1)[None]
    g = torch.from_numpy(coords.astype(np.float32, copy=False)).clone()
    g[..., 0] = g[..., 0] * (2.0 / w) - 1.0  # align_corners=False: -1 is the left edge of pixel 0
    g[..., 1] = g[..., 1] * (2.0 / h) - 1.0
    with torch.no_grad():
        out = F.grid_sample(t, g[None], mode="bilinear", padding_mode="border", align_corners=False)
    out = out[0].permute(1, 2, 0).numpy()
    return np.ascontiguousarray(out[:, :, 0] if squeeze else out)


def undistort(image: np.ndarray, source: Camera, target: Camera | None = None) -> np.ndarray:
    """The photo `image` taken by `source` (with distortion) as the pinhole
    camera `target` (default: `source` without distortion) would see it."""
    target = source.without_distortion() if target is None else target
    if image.shape[:2] != (source.height, source.width):
        raise ValueError(f"image is {image.shape[1]}x{image.shape[0]}, camera is {source.width}x{source.height}")
    return remap(image, source_coords(source, target))


def coverage(source: Camera, target: Camera | None = None) -> np.ndarray:
    """(H,W) bool: which pixels of the undistorted image saw the photo itself
    rather than its clamped edge."""
    target = source.without_distortion() if target is None else target
    g = source_coords(source, target)
    return (g[..., 0] >= 0) & (g[..., 0] <= source.width) & (g[..., 1] >= 0) & (g[..., 1] <= source.height)


def downscale(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-average (box filter) resize of (H,W[,C]) float32 to (height, width),
    exact for any ratio, so that Camera.scaled describes the result."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    if w % width == 0 and h % height == 0:
        fx, fy = w // width, h // height
        shape = (height, fy, width, fx) + image.shape[2:]
        return image.reshape(shape).mean(axis=(1, 3), dtype=np.float64).astype(np.float32)
    from PIL import Image

    planes = image[:, :, None] if image.ndim == 2 else image
    out = [
        np.asarray(Image.fromarray(np.ascontiguousarray(planes[:, :, c], np.float32), "F").resize(
            (width, height), Image.Resampling.BOX))
        for c in range(planes.shape[2])
    ]
    result = np.stack(out, -1).astype(np.float32)
    return result[:, :, 0] if image.ndim == 2 else result
