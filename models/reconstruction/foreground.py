"""Foreground without masks: where the object is, from the scene bounds.

Real captures (instant-ngp, COLMAP, nerfstudio) seldom come with masks. What
they do give is a region the cameras look at: the capture's bounding sphere
(from the camera rig, sparse points and the layout's scene bound) and, for
instant-ngp, `aabb_scale`, how far the scene extends beyond the unit cube the
object sits in. So:

- the region is a sphere around the point the optical axes converge on, as
  large as a quarter of the views frame whole, and for instant-ngp at least
  its unit cube (`object_sphere`);
- everything beyond it is explained by `volume_render.Background`, shells from
  `inner_shell` region radii out to the far bound from aabb_scale
  (`estimate_foreground`), so the background is not carved out of the grid;
- the occupancy inside it comes from a quick density fit (density.py), which
  then starts the SDF as the visual hull does for masked captures (a sphere
  of `init_radius` when that fit is switched off);
- a pixel can only show the object when its ray crosses the sphere:
  `region_masks` gives, per view, those pixels (a coarse foreground mask).

Whatever else lies inside the region (a table, a wall) is reconstructed too;
cleanup keeps the largest connected piece.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.camera import Camera
from models.reconstruction.config import ForegroundConfig

# instant-ngp scales transforms.json positions by 0.33 into its unit cube
# (offset 0.5): that cube spans +-1.5 world units, and the scene's bounding box
# is that cube scaled by aabb_scale.
NGP_CUBE_HALF_SIZE = 1.5


@dataclass(frozen=True)
class Foreground:
    """Where the object is, in the normalised frame (the bounding sphere is
    the unit sphere): the SDF starts as a sphere of `init_radius`, and the
    background shells reach `far_radius` (both in bounding radii)."""

    init_radius: float
    far_radius: float


def estimate_foreground(
    centre: np.ndarray,
    radius: float,
    aabb_scale: float | None,
    cameras: list[Camera],
    config: ForegroundConfig | None = None,
) -> Foreground:
    """The foreground of a mask-free capture whose bounding sphere is
    (`centre`, `radius`) in world units, with world `cameras`."""
    config = config or ForegroundConfig()
    if config.far_radius > 0:
        far = config.far_radius
    else:
        distances = np.array([np.linalg.norm(c.position - centre) for c in cameras]) / radius
        far = 16.0
        if aabb_scale is not None and aabb_scale > 0:
            # Farthest corner of the scene's box, seen from the sphere's centre.
            corner = NGP_CUBE_HALF_SIZE * aabb_scale * math.sqrt(3.0)
            far = (corner + float(np.linalg.norm(centre))) / radius
        # Beyond the farthest camera at least, so every ray meets the last shell.
        far = max(far, 2.0 * float(distances.max()) if len(distances) else far, 2.0)
    return Foreground(init_radius=config.init_radius, far_radius=float(far))


def object_sphere(
    cameras: list[Camera],
    fallback: tuple[np.ndarray, float],
    config: ForegroundConfig | None = None,
    aabb_scale: float | None = None,
) -> tuple[np.ndarray, float]:
    """(centre, radius) in world units of the region to reconstruct in a
    mask-free capture: centred where the optical axes converge, with the
    radius that `config.framed_percentile` percent of the views frame whole;
    for instant-ngp captures (`aabb_scale` given) at least the sphere around
    instant-ngp's unit cube, where that layout puts the object.

    Why not the smallest such radius (the capture's bounding sphere): close-ups
    frame only part of the object, and a sphere that every view frames then
    cuts the object down to the close-ups' field of view.
    """
    from models.capture_formats.rig import frustum_margin, nearest_to_axes

    config = config or ForegroundConfig()

    centre = nearest_to_axes(cameras)
    if centre is None:
        return fallback
    margins = np.array([frustum_margin(c, centre) for c in cameras])
    margins = margins[margins > 0]
    if len(margins) == 0:
        return fallback
    radius = max(float(np.percentile(margins, 100.0 - config.framed_percentile)), fallback[1])
    if aabb_scale is not None:
        radius = max(radius, NGP_CUBE_HALF_SIZE * math.sqrt(3.0))
    return centre, radius


def region_masks(cameras: list[Camera], sphere_radius: float = 1.0) -> list[np.ndarray]:
    """Per normalised camera, bool (H, W): pixels whose ray crosses the sphere
    of `sphere_radius` at the origin (the only pixels that can show the object)."""
    out = []
    for cam in cameras:
        o, d = cam.pixel_rays()
        b = (o * d).sum(-1)
        c = (o * o).sum(-1) - sphere_radius**2
        out.append((b * b - c > 0) & (-b + np.sqrt(np.maximum(b * b - c, 0)) > 0))
    return out
