"""Viewport camera navigation: orbit, pan, zoom, fly, framing, snapping, picking.

Qt-free so the maths is tested headless; the viewport widget only turns mouse
and key events into calls here and asks for a `Camera` of its pixel size.

Orientation: yaw turns about the world's up axis, pitch tilts up (positive
looks down on the target), roll turns about the viewing axis. With up = +Y and
all three angles zero the camera sits on +Z of its target looking down -Z,
OpenGL's default. The camera-to-world rotation is
R = U Ry(yaw) Rx(-pitch) Rz(roll), where U turns +Y onto `up` (captures in
Blender's convention are +Z up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from models.camera import Camera

# Orbiting stops short of the poles so "up" never flips under the user's hand.
MAX_ORBIT_PITCH = math.radians(89.0)
MIN_DISTANCE = 1e-4


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], np.float64)


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], np.float64)


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], np.float64)


def up_basis(up: np.ndarray) -> np.ndarray:
    """The smallest rotation taking +Y onto the unit vector `up` (3x3)."""
    u = np.asarray(up, np.float64)
    u = u / np.linalg.norm(u)
    y = np.array([0.0, 1.0, 0.0])
    c = float(np.dot(y, u))
    if c < -1 + 1e-12:  # upside down: half a turn about X
        return np.diag([1.0, -1.0, -1.0])
    v = np.cross(y, u)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def _yaw_pitch(back_local: np.ndarray) -> tuple[float, float]:
    pitch = math.asin(max(-1.0, min(1.0, float(back_local[1]))))
    return math.atan2(back_local[0], back_local[2]), pitch


@dataclass(frozen=True)
class OrbitNavigator:
    """A camera orbiting `target` at `distance`; every move returns a new one.

    Angles in radians; `fov_y` is the vertical field of view, so resizing the
    viewport's width widens the view instead of zooming it.
    """

    target: tuple[float, float, float] = (0.0, 0.0, 0.0)
    distance: float = 4.0
    yaw: float = math.radians(30.0)
    pitch: float = math.radians(20.0)
    roll: float = 0.0
    fov_y: float = math.radians(45.0)
    up: tuple[float, float, float] = (0.0, 1.0, 0.0)

    # ---- pose ---------------------------------------------------------------
    @property
    def rotation(self) -> np.ndarray:
        """3x3 camera-to-world rotation (columns: right, up, back)."""
        return up_basis(self.up) @ _rot_y(self.yaw) @ _rot_x(-self.pitch) @ _rot_z(self.roll)

    @property
    def eye(self) -> np.ndarray:
        return np.asarray(self.target, np.float64) + self.distance * self.rotation[:, 2]

    def c2w(self) -> np.ndarray:
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = self.eye
        return m

    def fov_x(self, aspect: float) -> float:
        """Horizontal field of view for a viewport of width/height `aspect`."""
        return 2 * math.atan(math.tan(0.5 * self.fov_y) * aspect)

    def camera(self, width: int, height: int) -> Camera:
        """The view as a pinhole `Camera` of the given pixel size."""
        width, height = max(1, int(width)), max(1, int(height))
        return Camera.from_fov(width, height, self.fov_x(width / height), self.c2w())

    def clip_range(self, center: np.ndarray, radius: float) -> tuple[float, float]:
        """Near and far planes that keep a bounding sphere, and floor around it, in view."""
        radius = max(radius, 1e-3)
        depth = float(np.dot(np.asarray(center, np.float64) - self.eye, -self.rotation[:, 2]))
        far = abs(depth) + 10.0 * radius
        near = min(max(depth - 2.0 * radius, far * 1e-4), far * 0.5)
        return near, far

    # ---- moves --------------------------------------------------------------
    def orbit(self, d_yaw: float, d_pitch: float) -> "OrbitNavigator":
        """Turn about the target; pitch is clamped short of the poles."""
        pitch = max(-MAX_ORBIT_PITCH, min(MAX_ORBIT_PITCH, self.pitch + d_pitch))
        return replace(self, yaw=(self.yaw + d_yaw) % (2 * math.pi), pitch=pitch)

    def pan(self, dx_px: float, dy_px: float, viewport_height: int) -> "OrbitNavigator":
        """Drag the scene by pixels (x right, y down): the point under the cursor
        at the target's depth follows it."""
        per_px = 2 * self.distance * math.tan(0.5 * self.fov_y) / max(1, viewport_height)
        r = self.rotation
        move = -r[:, 0] * dx_px * per_px + r[:, 1] * dy_px * per_px
        return replace(self, target=tuple(np.asarray(self.target) + move))

    def zoom(self, steps: float, factor: float = 0.85) -> "OrbitNavigator":
        """Dolly toward the target by `factor` per step (positive steps come closer)."""
        return replace(self, distance=max(MIN_DISTANCE, self.distance * factor**steps))

    def fly(self, forward: float, right: float, up: float) -> "OrbitNavigator":
        """Move eye and target together along the camera's own axes (world units)."""
        r = self.rotation
        move = -r[:, 2] * forward + r[:, 0] * right + r[:, 1] * up
        return replace(self, target=tuple(np.asarray(self.target) + move))

    def look(self, d_yaw: float, d_pitch: float) -> "OrbitNavigator":
        """Turn the camera about its own eye (fly mode's mouse look)."""
        eye = self.eye
        turned = self.orbit(d_yaw, d_pitch)
        target = eye - self.distance * turned.rotation[:, 2]
        return replace(turned, target=tuple(target))

    def aim_at(self, point: np.ndarray) -> "OrbitNavigator":
        """Keep the eye where it is and orbit about `point` from now on."""
        point = np.asarray(point, np.float64)
        back = self.eye - point
        distance = float(np.linalg.norm(back))
        if distance < MIN_DISTANCE:
            return self
        yaw, pitch = _yaw_pitch(up_basis(self.up).T @ (back / distance))
        return replace(self, target=tuple(point), distance=distance, yaw=yaw, pitch=pitch)

    def frame(self, center: np.ndarray, radius: float, aspect: float, margin: float = 1.1) -> "OrbitNavigator":
        """Aim at a bounding sphere from the current direction, close enough to
        fill the view, far enough to keep all of it inside the frustum."""
        half = 0.5 * min(self.fov_y, self.fov_x(aspect))
        distance = max(MIN_DISTANCE, margin * max(radius, 1e-6) / math.sin(half))
        return replace(self, target=tuple(np.asarray(center, np.float64)), distance=distance)

    def snap_to(self, camera: Camera, focus: np.ndarray | None = None) -> "OrbitNavigator":
        """Adopt a camera's pose and vertical field of view.

        The orbit target goes along its viewing axis, at the depth of `focus`
        (e.g. the scene centre) when given, else at the current distance.
        """
        rot = np.asarray(camera.c2w, np.float64)[:3, :3]
        rot = rot / np.linalg.norm(rot, axis=0)
        local = up_basis(self.up).T @ rot
        yaw, pitch = _yaw_pitch(local[:, 2])
        rest = (_rot_y(yaw) @ _rot_x(-pitch)).T @ local
        roll = math.atan2(rest[1, 0], rest[0, 0])
        back, eye = rot[:, 2], camera.position
        distance = self.distance
        if focus is not None:
            distance = max(float(np.dot(np.asarray(focus, np.float64) - eye, -back)), MIN_DISTANCE * 10)
        target = eye - distance * back
        return replace(self, target=tuple(target), distance=distance, yaw=yaw, pitch=pitch,
                       roll=roll, fov_y=camera.fov_y)

    def with_up(self, up: np.ndarray) -> "OrbitNavigator":
        """Orbit about a new world up axis: yaw and pitch keep their meaning
        relative to it (a level three-quarter view stays one), roll is cleared."""
        unit = np.asarray(up, np.float64) / np.linalg.norm(up)
        return replace(self, up=tuple(float(x) for x in unit), roll=0.0)


# ---- picking -------------------------------------------------------------------
def pixel_ray(camera: Camera, u: float, v: float) -> tuple[np.ndarray, np.ndarray]:
    """World ray (origin, unit direction) through continuous pixel coordinates
    (u right, v down; pixel centres at +0.5). Ignores lens distortion."""
    d_cam = np.array([(u - camera.cx) / camera.fx, -(v - camera.cy) / camera.fy, -1.0])
    d = camera.c2w[:3, :3] @ d_cam
    return camera.position, d / np.linalg.norm(d)


def nearest_hit(
    origin: np.ndarray, direction: np.ndarray, vertices: np.ndarray, faces: np.ndarray, chunk: int = 65536
) -> tuple[float, int, float, float] | None:
    """The nearest triangle the ray meets (Moller-Trumbore, both sides) as
    (distance, face, b1, b2) with barycentrics (1 - b1 - b2, b1, b2), or None.
    Works through the faces in chunks so a million-face mesh needs no
    gigabyte of temporaries."""
    o = np.asarray(origin, np.float64)
    d = np.asarray(direction, np.float64)
    v = np.asarray(vertices)
    faces = np.asarray(faces)
    best: tuple[float, int, float, float] | None = None
    for start in range(0, len(faces), chunk):
        tri = v[faces[start:start + chunk]].astype(np.float64)
        e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
        p = np.cross(d, e2)
        det = np.einsum("ij,ij->i", e1, p)
        ok = np.abs(det) > 1e-12
        inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
        s = o - tri[:, 0]
        b1 = np.einsum("ij,ij->i", s, p) * inv
        q = np.cross(s, e1)
        b2 = (q @ d) * inv
        t = np.einsum("ij,ij->i", e2, q) * inv
        hit = ok & (b1 >= 0) & (b2 >= 0) & (b1 + b2 <= 1) & (t > 1e-9)
        if hit.any():
            k = int(np.flatnonzero(hit)[np.argmin(t[hit])])
            if best is None or t[k] < best[0]:
                best = (float(t[k]), start + k, float(b1[k]), float(b2[k]))
    return best


def intersect_triangles(
    origin: np.ndarray, direction: np.ndarray, vertices: np.ndarray, faces: np.ndarray, chunk: int = 65536
) -> float | None:
    """Distance along the ray to the nearest triangle hit, or None."""
    hit = nearest_hit(origin, direction, vertices, faces, chunk)
    return None if hit is None else hit[0]
