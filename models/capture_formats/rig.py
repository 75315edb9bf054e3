"""Where the object is, from the cameras alone: the point the optical axes
converge on, the largest sphere around it that every view frames, and the
world's up direction.

Object captures point every camera at the object, so the least-squares point
nearest to all optical axes is its centre, and a sphere that projects inside
every image bounds what all views can see.
"""

from __future__ import annotations

import numpy as np

from models.camera import Camera


def nearest_to_axes(cameras: list[Camera]) -> np.ndarray | None:
    """Least-squares point nearest to every optical axis, or None when the axes
    are (nearly) parallel and no such point is well defined."""
    a, b = np.zeros((3, 3)), np.zeros(3)
    for c in cameras:
        d = c.forward
        p = np.eye(3) - np.outer(d, d)
        a += p
        b += p @ c.position
    eig = np.linalg.eigvalsh(a)
    if eig[0] < 1e-3 * len(cameras):
        return None
    return np.linalg.solve(a, b)


def frustum_margin(camera: Camera, point: np.ndarray) -> float:
    """Signed distance from `point` to the nearest side plane of the pinhole
    frustum (positive inside): the radius of the largest sphere around
    `point` that projects inside the image. Negative behind the camera."""
    w2c = camera.w2c
    p = w2c[:3, :3] @ point + w2c[:3, 3]  # camera coordinates, OpenGL axes
    if -p[2] <= 0:
        return -float(np.linalg.norm(p))
    x_left, x_right = -camera.cx / camera.fx, (camera.width - camera.cx) / camera.fx
    y_top, y_bottom = -camera.cy / camera.fy, (camera.height - camera.cy) / camera.fy
    normals = np.array(
        [[1.0, 0.0, x_left], [-1.0, 0.0, -x_right], [0.0, -1.0, y_top], [0.0, 1.0, -y_bottom]]
    )
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return float((normals @ p).min())


def rig_sphere(
    cameras: list[Camera], points: np.ndarray | None = None, scene_radius: float | None = None
) -> tuple[np.ndarray, float]:
    """(centre, radius) of the object from the camera rig.

    Centre: nearest point to the optical axes (falling back to the median of
    sparse points, or a point ahead of the rig when the axes are parallel).
    Radius: the largest sphere every view frames, tightened by the spread of
    sparse points (98th percentile of their distance) and by the layout's
    scene bound (instant-ngp's aabb).
    """
    positions = np.array([c.position for c in cameras])
    centre = nearest_to_axes(cameras)
    if points is not None and len(points) == 0:
        points = None
    if centre is None:
        if points is not None:
            centre = np.median(points, axis=0)
        else:
            spread = float(np.linalg.norm(positions - positions.mean(0), axis=1).max())
            ahead = np.mean([c.forward for c in cameras], axis=0)
            centre = positions.mean(0) + ahead * max(spread, 1.0)
    margins = np.array([frustum_margin(c, centre) for c in cameras])
    seen = margins[margins > 0]
    distances = np.linalg.norm(positions - centre, axis=1)
    radius = float(seen.min()) if len(seen) else 0.25 * float(np.median(distances))
    if points is not None:
        radius = min(radius, float(np.quantile(np.linalg.norm(points - centre, axis=1), 0.98)))
    if scene_radius is not None:
        radius = min(radius, scene_radius + float(np.linalg.norm(centre)))
    if not radius > 0:
        radius = max(0.25 * float(np.median(distances)), 1e-6)
    return centre, radius


def estimate_up(cameras: list[Camera]) -> np.ndarray:
    """World up as the mean of the cameras' up axes (people hold cameras
    upright); +Y when they cancel out."""
    up = np.mean([c.c2w[:3, 1] for c in cameras], axis=0)
    n = float(np.linalg.norm(up))
    return up / n if n > 1e-6 else np.array([0.0, 1.0, 0.0])
