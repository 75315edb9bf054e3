"""Light edits (Qt-free): default lights, list edits, and the maths of
dragging a light or turning the environment with the mouse.

The viewport calls these with its current Camera and widget pixels (device
pixels, row 0 at the top, as models.camera): a light is dragged on the plane
through it that faces the camera, so it stays at the same depth and follows
the cursor exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from models.camera import Camera
from models.lighting import Lighting, LightKind, PunctualLight
from models.navigation import pixel_ray

LIGHT_KINDS: tuple[LightKind, ...] = ("point", "directional", "spot")


def default_light(
    kind: LightKind, center: Sequence[float] = (0.0, 0.0, 0.0), radius: float = 1.0,
    up: Sequence[float] = (0.0, 1.0, 0.0), index: int = 0, camera: Camera | None = None,
) -> PunctualLight:
    """A sensible new light for an object in the sphere (center, radius),
    aimed at the centre, bright enough to read against an environment of ~1
    (irradiance ~ pi at the centre).

    With a `camera` the light goes up and to the side *as seen from it*, in
    front of the object, so its marker is on screen (alternating sides);
    without one it goes above the object, successive lights around it."""
    if kind not in LIGHT_KINDS:
        raise ValueError(f"unknown light kind {kind!r} (one of {', '.join(LIGHT_KINDS)})")
    c = np.asarray(center, np.float64)
    r = max(float(radius), 1e-3)
    position = None
    if camera is not None:
        # On the ray through a pixel up and to the side, on the plane 0.8 r
        # in front of the centre: on screen whatever the framing.
        side = 0.25 if index % 2 == 0 else -0.25
        pixel = (camera.width * (0.5 + side), camera.height * 0.2)
        position = view_plane_point(camera, c - 0.8 * r * camera.forward, pixel)
    if position is None:
        up_v = np.asarray(up, np.float64)
        up_v = up_v / max(np.linalg.norm(up_v), 1e-12)
        side_v = np.cross(up_v, [0.0, 0.0, 1.0] if abs(up_v[2]) < 0.9 else [1.0, 0.0, 0.0])
        side_v /= np.linalg.norm(side_v)
        angle = index * 2.0 * math.pi / 5.0
        front = np.cross(side_v, up_v)
        around = math.cos(angle) * side_v + math.sin(angle) * front
        position = c + 2.5 * r * (0.8 * around + 1.0 * up_v)
    direction = c - position
    distance = float(np.linalg.norm(direction))
    direction /= max(distance, 1e-12)
    intensity = {"point": math.pi * distance**2, "spot": math.pi * distance**2, "directional": math.pi}[kind]
    return PunctualLight(
        kind=kind,
        color=(1.0, 1.0, 1.0),
        intensity=float(intensity),
        position=tuple(float(x) for x in position),
        direction=tuple(float(x) for x in direction),
        inner_cone=0.0,
        outer_cone=math.pi / 6 if kind == "spot" else math.pi / 4,
        name=f"{kind} {index + 1}",
    )


def add_light(lighting: Lighting, light: PunctualLight) -> Lighting:
    return replace(lighting, lights=(*lighting.lights, light))


def remove_light(lighting: Lighting, index: int) -> Lighting:
    lights = list(lighting.lights)
    del lights[index]
    return replace(lighting, lights=tuple(lights))


def aim_at(light: PunctualLight, target: Sequence[float]) -> PunctualLight:
    """The light pointing from its position at `target` (directional, spot)."""
    d = np.asarray(target, np.float64) - np.asarray(light.position, np.float64)
    n = float(np.linalg.norm(d))
    if n < 1e-12:
        return light
    return replace(light, direction=tuple(float(x) for x in d / n))


# ---------------------------------------------------------------- dragging


def project_to_pixel(camera: Camera, point: Sequence[float]) -> tuple[float, float] | None:
    """Continuous pixel (x right, y down) where `point` appears, or None when
    it is behind the camera. Ignores lens distortion."""
    p = camera.w2c @ np.append(np.asarray(point, np.float64), 1.0)
    depth = -p[2]
    if depth <= 1e-9:
        return None
    return camera.cx + camera.fx * p[0] / depth, camera.cy - camera.fy * p[1] / depth


def view_plane_point(camera: Camera, anchor: Sequence[float], pixel: tuple[float, float]) -> np.ndarray | None:
    """Where the ray through `pixel` meets the plane through `anchor` that
    faces the camera (normal = the viewing direction); None if it cannot
    (the plane is behind the camera)."""
    origin, direction = pixel_ray(camera, pixel[0], pixel[1])
    normal = camera.forward
    a = np.asarray(anchor, np.float64)
    denom = float(direction @ normal)
    if abs(denom) < 1e-12:
        return None
    t = float((a - origin) @ normal) / denom
    if t <= 0:
        return None
    return origin + t * direction


def drag_on_view_plane(
    camera: Camera, start_position: Sequence[float], from_pixel: tuple[float, float], to_pixel: tuple[float, float]
) -> np.ndarray | None:
    """New position of a point grabbed at `from_pixel` while it was at
    `start_position`, after the cursor moved to `to_pixel`: it moves on the
    view-facing plane through `start_position`, keeping the offset between
    the cursor and the point (so a grab off-centre does not jump)."""
    a = view_plane_point(camera, start_position, from_pixel)
    b = view_plane_point(camera, start_position, to_pixel)
    if a is None or b is None:
        return None
    return np.asarray(start_position, np.float64) + (b - a)


def nearest_light(
    camera: Camera, lights: Sequence[PunctualLight], pixel: tuple[float, float], radius_px: float = 12.0
) -> int | None:
    """Index of the light whose marker (its position on screen) is nearest
    `pixel` within `radius_px`, or None."""
    best, best_d = None, float(radius_px)
    for i, light in enumerate(lights):
        p = project_to_pixel(camera, light.position)
        if p is None:
            continue
        d = math.hypot(p[0] - pixel[0], p[1] - pixel[1])
        if d <= best_d:
            best, best_d = i, d
    return best


def wrap_degrees(deg: float) -> float:
    """An angle in (-180, 180]."""
    d = math.fmod(float(deg) + 180.0, 360.0)
    if d <= 0:
        d += 360.0
    return d - 180.0


def rotation_after_drag(start_deg: float, dx_px: float, width_px: float, degrees_per_width: float = 360.0) -> float:
    """Environment rotation after a horizontal drag of `dx_px` across a view
    `width_px` wide: dragging right turns the environment with the cursor."""
    return wrap_degrees(start_deg + degrees_per_width * float(dx_px) / max(float(width_px), 1.0))
