"""Analytic test objects rendered exactly: cameras around a sphere or torus,
with masks and shaded, textured images. Tests and benchmarks use them as
ground truth (the surface is known in closed form)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.camera import Camera

SdfFn = Callable[[np.ndarray], np.ndarray]


def sphere(radius: float = 0.6, centre: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> SdfFn:
    c = np.asarray(centre, np.float64)
    return lambda p: np.linalg.norm(p - c, axis=-1) - radius


def torus(major: float = 0.55, minor: float = 0.22) -> SdfFn:
    """A torus around the y axis (its hole seen from above)."""

    def f(p: np.ndarray) -> np.ndarray:
        q = np.stack([np.linalg.norm(p[..., [0, 2]], axis=-1) - major, p[..., 1]], -1)
        return np.linalg.norm(q, axis=-1) - minor

    return f


def ring_cameras(count: int, size: int, distance: float = 3.0, fov_deg: float = 45.0, seed: int = 0) -> list[Camera]:
    """`count` cameras on a sphere of `distance` (Fibonacci directions, the
    lowest 15% left out), looking at the origin, `size`^2 pixels."""
    out = []
    golden = math.pi * (3 - math.sqrt(5))
    for i in range(count):
        y = 0.85 - 1.6 * (i + 0.5) / count
        r = math.sqrt(max(1 - y * y, 0))
        a = golden * i + seed
        eye = distance * np.array([r * math.cos(a), y, r * math.sin(a)])
        up = np.array([0.0, 1.0, 0.0]) if abs(y) < 0.99 else np.array([0.0, 0.0, 1.0])
        out.append(Camera.look_at(eye, np.zeros(3), up, size, size, math.radians(fov_deg)))
    return out


def sphere_trace(f: SdfFn, o: np.ndarray, d: np.ndarray, bound: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """First hits (N, 3) and hit flags (N,) of unit rays against the zero level
    of `f`, which must lie inside the sphere of radius `bound`."""
    b = (o * d).sum(-1)
    disc = b * b - ((o * o).sum(-1) - bound * bound)
    t = np.maximum(-b - np.sqrt(np.maximum(disc, 0)), 0)
    far = -b + np.sqrt(np.maximum(disc, 0))
    active = np.nonzero(disc > 0)[0]
    hit = np.zeros(len(o), bool)
    for _ in range(256):
        if len(active) == 0:
            break
        dist = f(o[active] + t[active, None] * d[active])
        t[active] += dist
        done = np.abs(dist) < 1e-7
        hit[active[done]] = True
        active = active[~done & (t[active] < far[active])]
    return o + t[:, None] * d, hit


def sdf_normal(f: SdfFn, p: np.ndarray, h: float = 1e-5) -> np.ndarray:
    e = np.eye(3) * h
    g = np.stack([f(p + e[i]) - f(p - e[i]) for i in range(3)], -1)
    return g / np.maximum(np.linalg.norm(g, axis=-1, keepdims=True), 1e-12)


def texture(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """A colourful, view-independent surface colour (N, 3): stripes and
    checks, so the photometric loss has texture to match."""
    stripes = 0.5 + 0.5 * np.sin(9.0 * p[:, :1] + 5.0 * p[:, 1:2] + np.array([0.0, 2.1, 4.2]))
    light = 0.35 + 0.65 * np.clip(n @ np.array([0.3, 0.8, 0.5]) / np.linalg.norm([0.3, 0.8, 0.5]), 0, 1)
    return (0.15 + 0.8 * stripes) * light[:, None]


@dataclass(frozen=True)
class SyntheticViews:
    """Cameras (world), images (H, W, 3) linear, masks (H, W) float32 of an
    analytic object, and its SDF."""

    cameras: list[Camera]
    images: list[np.ndarray]
    masks: list[np.ndarray]
    sdf: SdfFn


def render_views(
    f: SdfFn,
    cameras: list[Camera],
    background: Callable[[np.ndarray], np.ndarray] | None = None,
    supersample: int = 2,
) -> SyntheticViews:
    """Sphere-trace `f` from each camera; masks are pixel coverage (box
    filtered over `supersample`^2 rays); images the shaded texture as straight
    colour (as an RGBA photo stores it), or composited over `background(dirs)`."""
    images, masks = [], []
    for cam in cameras:
        s = supersample
        fine = cam.scaled(s)
        o, d = fine.pixel_rays()
        o, d = o.reshape(-1, 3), d.reshape(-1, 3)
        p, hit = sphere_trace(f, o, d)
        rgb = np.zeros((len(o), 3))
        rgb[hit] = texture(p[hit], sdf_normal(f, p[hit]))
        if background is not None:
            rgb[~hit] = background(d[~hit])
        h, w = cam.height, cam.width
        rgb = rgb.reshape(h, s, w, s, 3).mean((1, 3))
        cover = hit.reshape(h, s, w, s).mean((1, 3))
        # Straight (not premultiplied) colour, as RGBA photos store it.
        rgb = np.where(cover[..., None] > 0, rgb / np.maximum(cover[..., None], 1e-6), rgb) if background is None else rgb
        images.append(rgb.astype(np.float32))
        masks.append(cover.astype(np.float32))
    return SyntheticViews(cameras, images, masks, f)


def surface_points(f: SdfFn, count: int, extent: float = 1.0, seed: int = 0) -> np.ndarray:
    """About `count` points (N, 3) on the zero level of `f` inside the cube of
    half-size `extent` (random points projected along the gradient)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(-extent, extent, (count * 4, 3))
    for _ in range(30):
        p = p - f(p)[:, None] * sdf_normal(f, p)
    p = p[np.abs(f(p)) < 1e-6]
    return p[:count]
