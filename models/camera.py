"""Pinhole cameras with optional lens distortion, in Relit's one convention.

Convention (used everywhere in Relit):
- camera-to-world matrices in OpenGL axes: x right, y up, z backward
  (the camera looks down -z);
- pixel (column u, row v) has its centre at (u + 0.5, v + 0.5); row 0 is the
  top of the image;
- intrinsics fx, fy, cx, cy in pixels, OpenCV meaning (cx, cy measured from the
  top-left corner of the image, not from the first pixel centre).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

# OpenCV camera axes (x right, y down, z forward) <-> OpenGL (x right, y up, z back).
OPENCV_TO_OPENGL = np.diag([1.0, -1.0, -1.0, 1.0])


@dataclass(frozen=True)
class Distortion:
    """Lens distortion coefficients (OpenCV meaning).

    `model` is "none", "opencv" (k1 k2 p1 p2 [k3]) or "fisheye" (k1..k4,
    OpenCV's equidistant model).
    """

    model: str = "none"
    k1: float = 0.0
    k2: float = 0.0
    k3: float = 0.0
    k4: float = 0.0
    p1: float = 0.0
    p2: float = 0.0

    @property
    def is_identity(self) -> bool:
        return self.model == "none" or not any(
            (self.k1, self.k2, self.k3, self.k4, self.p1, self.p2)
        )

    def distort(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map ideal normalised image coordinates to distorted ones."""
        if self.is_identity:
            return x, y
        if self.model == "fisheye":
            r = np.sqrt(x * x + y * y)
            theta = np.arctan(r)
            t2 = theta * theta
            theta_d = theta * (1 + t2 * (self.k1 + t2 * (self.k2 + t2 * (self.k3 + t2 * self.k4))))
            scale = np.where(r > 1e-12, theta_d / np.maximum(r, 1e-12), 1.0)
            return x * scale, y * scale
        r2 = x * x + y * y
        radial = 1 + r2 * (self.k1 + r2 * (self.k2 + r2 * self.k3))
        xd = x * radial + 2 * self.p1 * x * y + self.p2 * (r2 + 2 * x * x)
        yd = y * radial + self.p1 * (r2 + 2 * y * y) + 2 * self.p2 * x * y
        return xd, yd


@dataclass(frozen=True)
class Camera:
    """One calibrated view: image size, intrinsics, distortion and pose.

    `c2w` is a 4x4 float64 camera-to-world matrix in OpenGL axes.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    c2w: np.ndarray
    distortion: Distortion = field(default_factory=Distortion)

    @staticmethod
    def from_fov(width: int, height: int, fov_x: float, c2w: np.ndarray) -> "Camera":
        """A centred pinhole camera from a horizontal field of view in radians."""
        f = 0.5 * width / math.tan(0.5 * fov_x)
        return Camera(width, height, f, f, width / 2, height / 2, np.asarray(c2w, np.float64))

    @staticmethod
    def look_at(
        eye: np.ndarray, target: np.ndarray, up: np.ndarray, width: int, height: int, fov_x: float
    ) -> "Camera":
        """A camera at `eye` looking at `target` (OpenGL axes)."""
        eye = np.asarray(eye, np.float64)
        back = eye - np.asarray(target, np.float64)
        back /= np.linalg.norm(back)
        right = np.cross(np.asarray(up, np.float64), back)
        right /= np.linalg.norm(right)
        true_up = np.cross(back, right)
        c2w = np.eye(4)
        c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, true_up, back, eye
        return Camera.from_fov(width, height, fov_x, c2w)

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], np.float64)

    @property
    def position(self) -> np.ndarray:
        return self.c2w[:3, 3].copy()

    @property
    def forward(self) -> np.ndarray:
        """Unit viewing direction in world space (the camera's -z axis)."""
        f = -self.c2w[:3, 2]
        return f / np.linalg.norm(f)

    @property
    def w2c(self) -> np.ndarray:
        return np.linalg.inv(self.c2w)

    @property
    def fov_x(self) -> float:
        return 2 * math.atan(0.5 * self.width / self.fx)

    @property
    def fov_y(self) -> float:
        return 2 * math.atan(0.5 * self.height / self.fy)

    def without_distortion(self) -> "Camera":
        return replace(self, distortion=Distortion())

    def scaled(self, factor: float) -> "Camera":
        """The same camera for an image resized by `factor` (0.5 halves it)."""
        w = max(1, int(round(self.width * factor)))
        h = max(1, int(round(self.height * factor)))
        sx, sy = w / self.width, h / self.height
        return replace(
            self, width=w, height=h, fx=self.fx * sx, fy=self.fy * sy, cx=self.cx * sx, cy=self.cy * sy
        )

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (N,3) -> pixel coordinates (N,2) and depth along the view (N,).

        Applies distortion; depth > 0 means in front of the camera.
        """
        p = np.asarray(points, np.float64).reshape(-1, 3)
        w2c = self.w2c
        pc = p @ w2c[:3, :3].T + w2c[:3, 3]
        depth = -pc[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            x = pc[:, 0] / depth
            y = -pc[:, 1] / depth
        x, y = self.distortion.distort(x, y)
        return np.stack([self.fx * x + self.cx, self.fy * y + self.cy], -1), depth

    def pixel_rays(self) -> tuple[np.ndarray, np.ndarray]:
        """World-space ray origins and unit directions (H,W,3) through pixel centres.

        Ignores distortion: use on undistorted images.
        """
        u, v = np.meshgrid(np.arange(self.width) + 0.5, np.arange(self.height) + 0.5)
        d = np.stack([(u - self.cx) / self.fx, -(v - self.cy) / self.fy, -np.ones_like(u)], -1)
        d = d @ self.c2w[:3, :3].T
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        o = np.broadcast_to(self.c2w[:3, 3], d.shape).copy()
        return o, d

    def gl_projection(self, near: float, far: float) -> np.ndarray:
        """OpenGL clip-from-camera matrix that reproduces these intrinsics exactly
        (pixel centres at +0.5, row 0 at the top of the image)."""
        w, h = self.width, self.height
        return np.array(
            [
                [2 * self.fx / w, 0, 1 - 2 * self.cx / w, 0],
                [0, 2 * self.fy / h, 2 * self.cy / h - 1, 0],
                [0, 0, -(far + near) / (far - near), -2 * far * near / (far - near)],
                [0, 0, -1, 0],
            ],
            np.float64,
        )
