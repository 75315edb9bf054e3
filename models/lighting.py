"""Lighting: an HDR environment map and punctual lights (KHR_lights_punctual).

Environment convention (both renderers): equirectangular, +Y up, row 0 at the
top (direction +Y). A world direction d maps to
    u = 0.5 + atan2(d.x, -d.z) / (2 pi),   v = acos(d.y) / pi
so the image centre (u = 0.5, v = 0.5) is the direction -Z. `rotation_deg`
turns the environment about +Y: a light seen at direction d with rotation 0 is
seen at R_y(rotation) d.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

LightKind = Literal["point", "directional", "spot"]


def direction_to_equirect(d: np.ndarray) -> np.ndarray:
    """Unit directions (...,3) -> equirect (u, v) in [0,1] (...,2)."""
    u = 0.5 + np.arctan2(d[..., 0], -d[..., 2]) / (2 * math.pi)
    v = np.arccos(np.clip(d[..., 1], -1.0, 1.0)) / math.pi
    return np.stack([u, v], -1)


def equirect_to_direction(uv: np.ndarray) -> np.ndarray:
    """Equirect (u, v) (...,2) -> unit directions (...,3); inverse of the above."""
    phi = (uv[..., 0] - 0.5) * 2 * math.pi
    theta = uv[..., 1] * math.pi
    s = np.sin(theta)
    return np.stack([s * np.sin(phi), np.cos(theta), -s * np.cos(phi)], -1)


def rotation_y(deg: float) -> np.ndarray:
    """3x3 rotation about +Y by `deg` degrees (right-handed)."""
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], np.float64)


@dataclass(frozen=True)
class Environment:
    """An equirectangular HDR environment: radiance (H,W,3) float32 linear,
    finite and >= 0. `name` says where it came from (a file name, a preset, or
    "recovered" for a fitted one)."""

    radiance: np.ndarray
    rotation_deg: float = 0.0
    exposure_ev: float = 0.0
    strength: float = 1.0
    name: str = "environment"

    @staticmethod
    def uniform(value: float | tuple[float, float, float] = 1.0, height: int = 32, name: str = "uniform") -> "Environment":
        rgb = np.broadcast_to(np.asarray(value, np.float32), (3,))
        return Environment(np.broadcast_to(rgb, (height, 2 * height, 3)).copy(), name=name)

    @property
    def scale(self) -> float:
        """Multiplier applied to the radiance: strength * 2^exposure."""
        return float(self.strength * 2.0**self.exposure_ev)

    def with_radiance(self, radiance: np.ndarray) -> "Environment":
        return replace(self, radiance=np.ascontiguousarray(radiance, np.float32))


@dataclass(frozen=True)
class PunctualLight:
    """A point, directional or spot light with glTF KHR_lights_punctual terms:
    intensity in candela (point, spot) or lux (directional); spot cones in
    radians; `direction` is where the light points (directional, spot)."""

    kind: LightKind = "point"
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    intensity: float = 10.0
    position: tuple[float, float, float] = (0.0, 2.0, 0.0)
    direction: tuple[float, float, float] = (0.0, -1.0, 0.0)
    inner_cone: float = 0.0
    outer_cone: float = math.pi / 4
    name: str = "light"


@dataclass(frozen=True)
class Lighting:
    environment: Environment = field(default_factory=Environment.uniform)
    lights: tuple[PunctualLight, ...] = ()
