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

A wall or table the object stands against lies inside the region too. The
density fit finds it (`find_support_plane`: a plane the rig sees from one
side, holding many of the fit's surface points and hiding the rest), then
the background shows it as a textured plane, rays stop there, the grid
behind it is dropped and the occupied piece nearest the rig's focus is kept
(density.fit_foreground); the final SDF is cut by the plane. Other clutter
inside the region is reconstructed too; cleanup keeps the largest piece.
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


@dataclass(frozen=True)
class SupportPlane:
    """A wall or table the object stands against, in the normalised frame:
    {x : normal . x + offset = 0}, `normal` pointing towards the cameras;
    `extent` is the half-size of the square (around the plane's point nearest
    the origin) that the photos see of it; `inliers` the fraction of surface
    points on it."""

    normal: np.ndarray
    offset: float
    extent: float
    inliers: float

    def height(self, points: np.ndarray) -> np.ndarray:
        """Signed distance (N,) of `points` (N, 3) from the plane (> 0: the cameras' side)."""
        return np.asarray(points, np.float64) @ self.normal + self.offset


def find_support_plane(
    points: np.ndarray,
    cameras: list[Camera],
    tolerance: float,
    config: ForegroundConfig | None = None,
    seed: int = 0,
) -> SupportPlane | None:
    """The dominant plane among surface `points` (N, 3) (normalised frame) that
    the rig looks at from one side, or None.

    RANSAC over planes through three random points that have at least
    `config.plane_camera_fraction` of the normalised `cameras` in front of
    them (an object seen from all round has no such plane through it; a wall
    or table behind it does) and at least `config.plane_min_inliers` of the
    points within `tolerance`: the best has the most points on it less twice
    the points behind it (a wall hides what lies behind it, so a plane
    through the middle of the scene scores badly however many points it
    holds). Refined by least squares on its inliers."""
    config = config or ForegroundConfig()
    points = np.asarray(points, np.float64)
    if len(points) < 100 or len(cameras) < 3:
        return None
    centres = np.array([c.position for c in cameras])
    forward = np.mean([c.forward for c in cameras], axis=0)
    rng = np.random.default_rng(seed)
    sample = points[rng.choice(len(points), min(len(points), 20_000), replace=False)]
    best: tuple[int, np.ndarray, float] | None = None
    for _ in range(config.plane_iterations):
        a, b, c = sample[rng.choice(len(sample), 3, replace=False)]
        normal = np.cross(b - a, c - a)
        length = float(np.linalg.norm(normal))
        if length < 1e-9:
            continue
        normal /= length
        offset = -float(normal @ a)
        if normal @ forward > 0:  # face the cameras
            normal, offset = -normal, -offset
        if np.mean(centres @ normal + offset > 0) < config.plane_camera_fraction:
            continue
        height = sample @ normal + offset
        count = int((np.abs(height) < tolerance).sum())
        score = count - 2 * int((height < -tolerance).sum())
        if count >= config.plane_min_inliers * len(sample) and (best is None or score > best[0]):
            best = (score, normal, offset)
    if best is None or best[0] <= 0:
        return None
    _, normal, offset = best
    for _ in range(2):  # least squares on the inliers
        on = points[np.abs(points @ normal + offset) < tolerance]
        mean = on.mean(0)
        refined = np.linalg.svd(on - mean, full_matrices=False)[2][-1]
        normal = refined if refined @ normal > 0 else -refined
        offset = -float(normal @ mean)
    inliers = float(np.mean(np.abs(points @ normal + offset) < tolerance))
    if np.mean(centres @ normal + offset > 0) < config.plane_camera_fraction:
        return None
    # What the photos see of it: where the cameras' rays meet it.
    hits = []
    for cam in cameras:
        o, d = cam.pixel_rays()
        o, d = o.reshape(-1, 3)[::16], d.reshape(-1, 3)[::16]
        cos = d @ normal
        t = -(o @ normal + offset) / np.where(cos < -1e-6, cos, -1e-6)
        ok = (cos < -1e-6) & (t > 0)
        hits.append(o[ok] + t[ok, None] * d[ok])
    hits = np.concatenate(hits) if hits else np.zeros((0, 3))
    foot = -offset * normal
    extent = float(np.percentile(np.linalg.norm(hits - foot, axis=1), 99)) if len(hits) else 4.0
    return SupportPlane(normal, offset, min(max(extent, 1.0), config.plane_max_extent), inliers)
