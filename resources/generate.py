"""Regenerate what Relit ships and makes itself: `python -m resources.generate`.

- resources/hdri/{studio,sunset,overcast}.hdr: procedural HDR environment
  presets (256x128, linear Radiance RGBE).
- resources/sample_capture/: a capture of a procedural object with known,
  varied materials, rendered by Relit's own torch renderer
  (models/render_scene.py) under a procedural sky (gradient, sun disc, two
  coloured "windows"): RGBA PNG views (alpha = mask), an instant-ngp style
  transforms.json, the mesh (mesh.obj, with UVs and normals) and, in
  ground_truth/, the true maps and light for checking a fit.

The object (world +Y up, Relit's convention): a cylindrical base (rough grey
dielectric top with a brushed-metal ring, glossy black rim), a gold sphere
(glossy metal with a rough band), a standing torus (glossy red plastic with
rough white stripes) and a box (rough blue/cream checker). Each part has
analytic UVs in its own cell of one atlas, so the maps are painted exactly.

Everything is deterministic: the same code writes the same files.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.camera import Camera
from models.lighting import Environment, Lighting, equirect_to_direction
from models.material import MaterialMaps
from models.mesh import Mesh
from models.scene import Scene

RESOURCES = Path(__file__).resolve().parent
SAMPLE = RESOURCES / "sample_capture"
HDRI = RESOURCES / "hdri"

# ------------------------------------------------------------------ environments


def _directions(height: int) -> np.ndarray:
    """Unit directions (H, 2H, 3) at the texel centres of an equirect map."""
    w = 2 * height
    u, v = np.meshgrid((np.arange(w) + 0.5) / w, (np.arange(height) + 0.5) / height)
    return equirect_to_direction(np.stack([u, v], -1))


def _lobe(d: np.ndarray, centre: tuple[float, float, float], radius_deg: float, soft: float = 0.3) -> np.ndarray:
    """A disc (H,W) of angular radius `radius_deg` around `centre` with a soft
    edge (`soft` fraction of the radius); 1 inside, 0 outside."""
    c = np.asarray(centre, np.float64)
    c = c / np.linalg.norm(c)
    angle = np.degrees(np.arccos(np.clip(d @ c, -1, 1)))
    edge = max(radius_deg * soft, 1e-6)
    return np.clip((radius_deg - angle) / edge + 0.5, 0.0, 1.0)


def _window(d: np.ndarray, centre_dir: tuple[float, float, float], half_w: float, half_h: float) -> np.ndarray:
    """A soft-edged rectangular light (H,W) seen in direction `centre_dir`,
    half-sizes in radians across (horizontal) and up."""
    c = np.asarray(centre_dir, np.float64)
    c /= np.linalg.norm(c)
    right = np.cross([0.0, 1.0, 0.0], -c)
    right /= np.linalg.norm(right)
    up = np.cross(-c, right)
    facing = d @ c
    x = np.arctan2(d @ right, facing)
    y = np.arctan2(d @ up, facing)
    soft = 0.15
    fx = np.clip((half_w - np.abs(x)) / (soft * half_w) + 0.5, 0, 1)
    fy = np.clip((half_h - np.abs(y)) / (soft * half_h) + 0.5, 0, 1)
    return fx * fy * (facing > 0)


def sky_environment(height: int = 128) -> np.ndarray:
    """The sample capture's light: blue sky gradient, warm sun disc, brown
    ground, a cool and a warm rectangular 'window'. (H, 2H, 3) float32."""
    d = _directions(height)
    y = d[..., 1:2]
    zenith, horizon, ground = np.array([0.25, 0.45, 0.95]), np.array([0.9, 0.95, 1.0]), np.array([0.25, 0.2, 0.15])
    t = np.clip(y, 0, 1) ** 0.5
    sky = horizon * (1 - t) + zenith * t
    rad = np.where(y > 0, sky, ground * (0.6 + 0.4 * np.exp(8 * y)))
    rad = rad + 350.0 * _lobe(d, (0.45, 0.62, -0.64), 2.0)[..., None] * np.array([1.0, 0.93, 0.8])
    rad = rad + 2.0 * _window(d, (-0.9, 0.25, 0.3), 0.35, 0.25)[..., None] * np.array([0.7, 0.85, 1.0])
    rad = rad + 1.6 * _window(d, (0.5, 0.15, 0.85), 0.25, 0.3)[..., None] * np.array([1.0, 0.7, 0.4])
    return rad.astype(np.float32)


def studio_environment(height: int = 128) -> np.ndarray:
    """Dark grey studio with a large key softbox, a fill panel and a rim strip."""
    d = _directions(height)
    y = d[..., 1:2]
    rad = np.broadcast_to(0.03 + 0.03 * np.clip(y + 0.3, 0, 1), d.shape[:-1] + (1,)) * np.ones(3)
    rad = rad + 12.0 * _window(d, (-0.7, 0.5, 0.5), 0.35, 0.3)[..., None] * np.array([1.0, 0.98, 0.95])
    rad = rad + 3.0 * _window(d, (0.8, 0.1, 0.6), 0.3, 0.4)[..., None] * np.array([0.95, 0.97, 1.0])
    rad = rad + 8.0 * _window(d, (0.1, 0.3, -1.0), 0.6, 0.06)[..., None]
    return rad.astype(np.float32)


def sunset_environment(height: int = 128) -> np.ndarray:
    """Low orange sun, warm horizon glow, deep blue zenith, dark ground."""
    d = _directions(height)
    y = d[..., 1:2]
    sun_dir = np.array([0.2, 0.08, -0.98])
    glow = np.clip(d @ (sun_dir / np.linalg.norm(sun_dir)), 0, 1)[..., None] ** 4
    t = np.clip(y, 0, 1) ** 0.4
    sky = np.array([1.0, 0.55, 0.25]) * (1 - t) + np.array([0.08, 0.12, 0.35]) * t
    rad = np.where(y > 0, sky * (0.5 + 1.5 * glow), np.array([0.06, 0.04, 0.03]))
    rad = rad + 600.0 * _lobe(d, tuple(sun_dir), 1.8)[..., None] * np.array([1.0, 0.6, 0.3])
    return rad.astype(np.float32)


def overcast_environment(height: int = 128) -> np.ndarray:
    """Soft grey overcast sky (CIE-like: three times brighter at the zenith)."""
    d = _directions(height)
    y = d[..., 1:2]
    sky = 0.35 * (1 + 2 * np.clip(y, 0, 1)) / 3 * 3
    rad = np.where(y > 0, sky * np.array([0.95, 0.97, 1.0]), 0.12 * np.array([0.9, 0.88, 0.85]))
    return rad.astype(np.float32)


PRESETS = {"studio": studio_environment, "sunset": sunset_environment, "overcast": overcast_environment}

# ------------------------------------------------------------------ geometry


@dataclass
class Part:
    """Geometry of one primitive: vertices/normals (V,3), local uv (V,2) in
    [0,1]^2 of its atlas cell, faces (F,3)."""

    vertices: np.ndarray
    normals: np.ndarray
    uv: np.ndarray
    faces: np.ndarray


def _grid_faces(rows: int, cols: int, offset: int = 0) -> np.ndarray:
    """Two triangles per cell of a (rows+1) x (cols+1) vertex grid,
    counter-clockwise seen from the normal's side for (row = v down, col = u)."""
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    p = (r * (cols + 1) + c).ravel() + offset
    q = p + cols + 1
    return np.concatenate([np.stack([p, q, p + 1], 1), np.stack([p + 1, q, q + 1], 1)]).astype(np.int64)


def latlong_sphere(n_lat: int = 24, n_lon: int = 48, radius: float = 1.0, centre=(0.0, 0.0, 0.0)) -> Part:
    """A UV sphere with lat-long UVs: u = longitude / 2pi, v = 1 - colatitude / pi."""
    i, j = np.meshgrid(np.arange(n_lat + 1), np.arange(n_lon + 1), indexing="ij")
    theta, phi = i / n_lat * math.pi, j / n_lon * 2 * math.pi
    n = np.stack([np.sin(theta) * np.sin(phi), np.cos(theta), np.sin(theta) * np.cos(phi)], -1).reshape(-1, 3)
    uv = np.stack([j / n_lon, 1 - i / n_lat], -1).reshape(-1, 2)
    faces = _grid_faces(n_lat, n_lon)
    tri = n[faces]
    keep = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1) > 1e-12
    return Part(n * radius + np.asarray(centre), n, uv, faces[keep])


def torus(major: float, minor: float, n_major: int = 48, n_minor: int = 20, centre=(0.0, 0.0, 0.0)) -> Part:
    """A torus standing in the XY plane (its hole along Z): u around the ring,
    v around the tube."""
    i, j = np.meshgrid(np.arange(n_minor + 1), np.arange(n_major + 1), indexing="ij")
    a = j / n_major * 2 * math.pi  # around the ring
    b = i / n_minor * 2 * math.pi  # around the tube
    ring = np.stack([np.cos(a), np.sin(a), np.zeros_like(a)], -1)
    n = np.cos(b)[..., None] * ring + np.sin(b)[..., None] * np.array([0.0, 0.0, 1.0])
    v = major * ring + minor * n
    uv = np.stack([j / n_major, 1 - i / n_minor], -1)
    faces = _grid_faces(n_minor, n_major)[:, ::-1]
    return Part(v.reshape(-1, 3) + np.asarray(centre), n.reshape(-1, 3), uv.reshape(-1, 2), faces)


def _quad_grid(origin, du, dv, n: int, uv_origin, uv_size) -> Part:
    """A subdivided planar quad origin + s du + t dv (s, t in [0,1]) facing du x dv."""
    s, t = np.meshgrid(np.linspace(0, 1, n + 1), np.linspace(0, 1, n + 1), indexing="ij")
    du, dv = np.asarray(du, np.float64), np.asarray(dv, np.float64)
    p = np.asarray(origin, np.float64) + s[..., None] * du + t[..., None] * dv
    normal = np.cross(du, dv)
    normal /= np.linalg.norm(normal)
    uv = np.stack([uv_origin[0] + uv_size[0] * s, uv_origin[1] + uv_size[1] * t], -1)
    # grid rows run along s here, columns along t
    faces = _grid_faces(n, n)
    return Part(p.reshape(-1, 3), np.broadcast_to(normal, (p.size // 3, 3)).copy(), uv.reshape(-1, 2), faces)


def box(size: float, centre, yaw_deg: float, n: int = 8) -> Part:
    """A cube with each face in its own cell of a 3x2 grid of the part's UV cell."""
    h = size / 2
    faces = [  # origin, du, dv (outward normal = du x dv)
        ((-h, -h, h), (2 * h, 0, 0), (0, 2 * h, 0)),  # +Z
        ((h, -h, -h), (-2 * h, 0, 0), (0, 2 * h, 0)),  # -Z
        ((h, -h, h), (0, 0, -2 * h), (0, 2 * h, 0)),  # +X
        ((-h, -h, -h), (0, 0, 2 * h), (0, 2 * h, 0)),  # -X
        ((-h, h, h), (2 * h, 0, 0), (0, 0, -2 * h)),  # +Y
        ((-h, -h, -h), (2 * h, 0, 0), (0, 0, 2 * h)),  # -Y
    ]
    parts = []
    for k, (o, du, dv) in enumerate(faces):
        cell = (k % 3 / 3 + 0.02, k // 3 / 2 + 0.02)
        parts.append(_quad_grid(o, du, dv, n, cell, (1 / 3 - 0.04, 1 / 2 - 0.04)))
    part = _merge(parts)
    a = math.radians(yaw_deg)
    rot = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    return Part(part.vertices @ rot.T + np.asarray(centre), part.normals @ rot.T, part.uv, part.faces)


def cylinder_base(radius: float, height: float, segments: int = 96, rings: int = 10) -> Part:
    """A disc-shaped base from y = -height to 0: top disc (UV: a square at
    [0, 0.62]^2 shifted up), side (a strip along the bottom of the cell), and
    a bottom disc (a small square)."""
    parts = []
    a = np.linspace(0, 2 * math.pi, segments + 1)
    for y, sign, (u0, v0, size) in ((0.0, 1.0, (0.02, 0.36, 0.62)), (-height, -1.0, (0.68, 0.5, 0.3))):
        r = np.linspace(0, radius, rings + 1)
        rr, aa = np.meshgrid(r, a, indexing="ij")
        p = np.stack([rr * np.cos(aa), np.full_like(rr, y), -sign * rr * np.sin(aa)], -1)
        uv = np.stack([u0 + size * (0.5 + 0.5 * p[..., 0] / radius), v0 + size * (0.5 - 0.5 * p[..., 2] / radius * -1)], -1)
        faces = _grid_faces(rings, segments)
        tri = p.reshape(-1, 3)[faces]
        n_geo = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        keep = np.linalg.norm(n_geo, axis=1) > 1e-12
        faces = faces[keep]
        if (n_geo[keep][:, 1] * sign < 0).mean() > 0.5:
            faces = faces[:, ::-1]
        parts.append(Part(p.reshape(-1, 3), np.tile([0.0, sign, 0.0], (p.size // 3, 1)), uv.reshape(-1, 2), faces))
    hh = np.linspace(0, 1, 3)
    aa, tt = np.meshgrid(a, hh, indexing="ij")
    n = np.stack([np.cos(aa), np.zeros_like(aa), -np.sin(aa)], -1)
    p = radius * n + np.stack([np.zeros_like(aa), -height + height * tt, np.zeros_like(aa)], -1)
    uv = np.stack([0.02 + 0.96 * aa / (2 * math.pi), 0.03 + 0.27 * tt], -1)
    faces = _grid_faces(segments, 2)
    tri = p.reshape(-1, 3)[faces]
    n_geo = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    if ((n_geo * n.reshape(-1, 3)[faces[:, 0]]).sum(1) < 0).mean() > 0.5:
        faces = faces[:, ::-1]
    parts.append(Part(p.reshape(-1, 3), n.reshape(-1, 3), uv.reshape(-1, 2), faces))
    return _merge(parts)


def _merge(parts: list[Part]) -> Part:
    offsets = np.cumsum([0] + [len(p.vertices) for p in parts[:-1]])
    return Part(
        np.concatenate([p.vertices for p in parts]),
        np.concatenate([p.normals for p in parts]),
        np.concatenate([p.uv for p in parts]),
        np.concatenate([p.faces + o for p, o in zip(parts, offsets)]),
    )


CELL_MARGIN = 0.03
"""Fraction of an atlas cell left empty on each side (padding between parts)."""


def _to_cell(part: Part, cell: tuple[int, int]) -> Part:
    """Move a part's local [0,1]^2 UVs into atlas cell (column, row from the bottom) of a 2x2 grid."""
    m = CELL_MARGIN
    uv = (np.asarray(cell, np.float64) + m + part.uv * (1 - 2 * m)) / 2
    return Part(part.vertices, part.normals, uv, part.faces)


# Atlas cells (column, row from the bottom) of the parts.
CELLS = {"sphere": (0, 1), "torus": (1, 1), "box": (1, 0), "base": (0, 0)}


def sample_object() -> Mesh:
    """The sample object's mesh (about 9k vertices), UVs in one 2x2 atlas."""
    parts = [
        _to_cell(latlong_sphere(32, 64, 0.45, (-0.55, 0.45, 0.1)), CELLS["sphere"]),
        _to_cell(torus(0.33, 0.12, 64, 24, (0.42, 0.45, 0.5)), CELLS["torus"]),
        _to_cell(box(0.5, (0.45, 0.25, -0.42), 30.0, 8), CELLS["box"]),
        _to_cell(cylinder_base(1.3, 0.2), CELLS["base"]),
    ]
    m = _merge(parts)
    return Mesh(
        m.vertices.astype(np.float32),
        m.faces.astype(np.int32),
        (m.normals / np.linalg.norm(m.normals, axis=1, keepdims=True)).astype(np.float32),
        m.uv.astype(np.float32),
    )


# ------------------------------------------------------------------ materials


def sample_materials(resolution: int = 512) -> MaterialMaps:
    """Paint the sample object's maps in its atlas (row 0 = v 1)."""
    r = resolution
    u, v = np.meshgrid((np.arange(r) + 0.5) / r, 1 - (np.arange(r) + 0.5) / r)
    cu, cv = np.minimum((u * 2).astype(int), 1), np.minimum((v * 2).astype(int), 1)
    m = CELL_MARGIN
    s = np.clip((u * 2 - cu - m) / (1 - 2 * m), 0, 1)
    t = np.clip((v * 2 - cv - m) / (1 - 2 * m), 0, 1)
    albedo = np.zeros((r, r, 3))
    rough = np.zeros((r, r))
    metal = np.zeros((r, r))

    def paint(cell, a, ro, me, where=None):
        sel = (cu == cell[0]) & (cv == cell[1])
        if where is not None:
            sel &= where
        albedo[sel] = a
        rough[sel] = ro
        metal[sel] = me

    # Sphere: glossy gold, a rough band around the equator (t = 1 - colatitude / pi).
    paint(CELLS["sphere"], (1.0, 0.77, 0.34), 0.2, 1.0)
    paint(CELLS["sphere"], (0.95, 0.75, 0.4), 0.55, 1.0, np.abs(t - 0.5) < 0.09)
    # Torus: glossy red plastic with rough white stripes across the tube.
    paint(CELLS["torus"], (0.72, 0.06, 0.05), 0.25, 0.0)
    paint(CELLS["torus"], (0.85, 0.85, 0.82), 0.6, 0.0, (s * 8) % 1 < 0.25)
    # Box: each face a 4x4 checker of rough blue and smoother cream.
    fs, ft = (s * 3) % 1, (t * 2) % 1
    checker = ((fs * 4).astype(int) + (ft * 4).astype(int)) % 2 == 0
    paint(CELLS["box"], (0.06, 0.18, 0.55), 0.75, 0.0)
    paint(CELLS["box"], (0.85, 0.8, 0.62), 0.45, 0.0, checker)
    # Base: grey rough top with a brushed-metal ring; glossy black rim and bottom.
    paint(CELLS["base"], (0.05, 0.05, 0.055), 0.3, 0.0)
    top = (s < 0.66) & (t > 0.34)
    x, z = (s - 0.02 - 0.31) / 0.31, (t - 0.36 - 0.31) / 0.31
    radius = np.sqrt(x * x + z * z)
    paint(CELLS["base"], (0.42, 0.4, 0.37), 0.85, 0.0, top)
    paint(CELLS["base"], (0.9, 0.9, 0.92), 0.35, 1.0, top & (np.abs(radius - 0.85) < 0.06))
    return MaterialMaps(albedo.astype(np.float32), rough.astype(np.float32), metal.astype(np.float32))


# ------------------------------------------------------------------ cameras and files


def orbit_cameras(
    count: int, size: int, distance: float, target=(0.0, 0.25, 0.0), fov_deg: float = 40.0,
    min_elevation: float = 10.0, max_elevation: float = 65.0,
) -> list[Camera]:
    """`count` cameras on a spiral over the upper hemisphere, looking at `target`."""
    golden = math.pi * (3 - math.sqrt(5))
    out = []
    lo, hi = math.sin(math.radians(min_elevation)), math.sin(math.radians(max_elevation))
    for k in range(count):
        y = lo + (hi - lo) * (k + 0.5) / count
        el = math.asin(y)
        az = k * golden
        eye = np.asarray(target) + distance * np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)])
        out.append(Camera.look_at(eye, np.asarray(target, np.float64), np.array([0.0, 1.0, 0.0]), size, size, math.radians(fov_deg)))
    return out


def write_obj(path: Path, mesh: Mesh) -> None:
    """An OBJ with positions, UVs and normals sharing one index per vertex."""
    from models.files import atomic_write_text

    lines = ["# Relit sample object (resources/generate.py)"]
    lines += [f"v {x:.5f} {y:.5f} {z:.5f}" for x, y, z in mesh.vertices]
    lines += [f"vt {u:.5f} {v:.5f}" for u, v in mesh.uv]
    lines += [f"vn {x:.4f} {y:.4f} {z:.4f}" for x, y, z in mesh.normals]
    lines += [f"f {a}/{a}/{a} {b}/{b}/{b} {c}/{c}/{c}" for a, b, c in (mesh.faces.astype(np.int64) + 1)]
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_capture(folder: Path, scene: Scene, cameras: list[Camera], supersample: int = 2, device: str = "cpu",
                  mesh_name: str = "mesh.obj", log=None) -> None:
    """Render `scene` through `cameras` into an instant-ngp style capture:
    images/NNN.png (RGBA, alpha = coverage), transforms.json, the mesh."""
    from models.files import atomic_write_text
    from models.imageio import save_png
    from models.render_scene import SceneRenderer

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    renderer = SceneRenderer.create(scene, device)
    frames = []
    for k, cam in enumerate(cameras):
        rgba = renderer.render(cam, background="transparent", supersample=supersample)
        name = f"images/{k:03d}.png"
        save_png(folder / name, rgba)
        frames.append({"file_path": name, "transform_matrix": np.round(cam.c2w, 8).tolist()})
        if log:
            log(f"  view {k + 1}/{len(cameras)}")
    c = cameras[0]
    doc = {
        "camera_angle_x": c.fov_x, "fl_x": c.fx, "fl_y": c.fy, "cx": c.cx, "cy": c.cy, "w": c.width, "h": c.height,
        "up": [0.0, 1.0, 0.0],
        "frames": frames,
    }
    atomic_write_text(folder / "transforms.json", json.dumps(doc, indent=1) + "\n")
    write_obj(folder / mesh_name, scene.mesh)


def sample_scene(texture_resolution: int = 512, env_height: int = 128, ao_samples: int = 128) -> Scene:
    """The ground-truth scene of the sample capture (mesh with baked AO)."""
    from renderer.ao import bake_vertex_ao

    mesh = sample_object()
    mesh = mesh.with_ao(bake_vertex_ao(mesh, samples=ao_samples, seed=0))
    env = Environment(sky_environment(env_height), name="sample_sky")
    return Scene(mesh, sample_materials(texture_resolution), Lighting(env))


def write_ground_truth(folder: Path, scene: Scene, preview: int = 256) -> None:
    """True maps (albedo sRGB PNG, roughness/metallic linear PNG, at `preview`
    px) and the true light (environment.hdr) for checking a fit."""
    from models.imageio import linear_to_srgb, save_hdr, save_png

    folder.mkdir(parents=True, exist_ok=True)
    m = scene.material

    def small(a: np.ndarray) -> np.ndarray:
        f = a.shape[0] // preview
        return a.reshape(preview, f, preview, f, *a.shape[2:]).mean((1, 3)) if f > 1 else a

    save_png(folder / "albedo.png", linear_to_srgb(small(m.albedo)))
    save_png(folder / "roughness.png", small(m.roughness))
    save_png(folder / "metallic.png", small(m.metallic))
    save_hdr(folder / "environment.hdr", scene.lighting.environment.radiance)


def generate(views: int = 28, size: int = 256, supersample: int = 2, out: Path = RESOURCES, device: str = "cpu",
             verbose: bool = True) -> None:
    """Write the HDR presets and the sample capture under `out`."""
    from models.imageio import save_hdr

    def log(text: str) -> None:
        if verbose:
            print(text, file=sys.stderr)

    start = time.perf_counter()
    (out / "hdri").mkdir(parents=True, exist_ok=True)
    for name, make in PRESETS.items():
        save_hdr(out / "hdri" / f"{name}.hdr", make(128))
    log(f"hdri presets: {', '.join(PRESETS)}")
    scene = sample_scene()
    cameras = orbit_cameras(views, size, distance=4.0)
    capture = out / "sample_capture"
    write_capture(capture, scene, cameras, supersample, device, log=log)
    write_ground_truth(capture / "ground_truth", scene)
    log(f"sample capture: {views} views at {size}px in {time.perf_counter() - start:.1f} s -> {capture}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resources.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--views", type=int, default=28, help="views of the sample capture")
    parser.add_argument("--size", type=int, default=256, help="image size in pixels")
    parser.add_argument("--supersample", type=int, default=2, help="anti-aliasing factor")
    parser.add_argument("--out", type=Path, default=RESOURCES, help="folder that receives hdri/ and sample_capture/")
    parser.add_argument("--device", default="cpu", help="torch device (results are the same)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(min(2, torch.get_num_threads()))
    generate(args.views, args.size, args.supersample, args.out, args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
