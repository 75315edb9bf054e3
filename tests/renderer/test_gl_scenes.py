"""Procedural scenes for the GL renderer tests (a torus with seamless UVs,
varied material maps, per-vertex AO, a procedural sky), the GL context
fixture helper, and checks that the scenes are what the tests assume."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.camera import Camera
from models.lighting import Environment
from models.material import MaterialMaps
from models.mesh import Mesh


def torus(major: float = 1.0, minor: float = 0.4, nu: int = 48, nv: int = 24) -> Mesh:
    """A torus around +Y with a (nu+1) x (nv+1) vertex grid (seams duplicated,
    so UVs run 0..1 without wrapping), analytic normals and a smooth AO that
    darkens the inner ring."""
    u = np.linspace(0.0, 1.0, nu + 1)
    v = np.linspace(0.0, 1.0, nv + 1)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    phi, theta = 2 * math.pi * uu, 2 * math.pi * vv
    ring = np.stack([np.sin(phi), np.zeros_like(phi), np.cos(phi)], -1)
    normal = np.cos(theta)[..., None] * ring + np.sin(theta)[..., None] * np.array([0.0, 1.0, 0.0])
    position = major * ring + minor * normal
    idx = np.arange((nu + 1) * (nv + 1)).reshape(nu + 1, nv + 1)
    a, b = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel()
    c, d = idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    # Outward normals need counter-clockwise faces seen from outside.
    p = position.reshape(-1, 3)
    n = normal.reshape(-1, 3)
    tri = p[faces]
    geo = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    if np.mean(np.sum(geo * n[faces[:, 0]], 1)) < 0:
        faces = faces[:, ::-1]
    ao = 0.55 + 0.45 * (0.5 + 0.5 * np.cos(theta)).reshape(-1)
    uv = np.stack([uu.ravel(), vv.ravel()], -1)
    return Mesh(
        p.astype(np.float32), faces.astype(np.int32), n.astype(np.float32), uv.astype(np.float32), ao.astype(np.float32)
    )


def uv_sphere(radius: float = 1.0, nu: int = 64, nv: int = 32) -> Mesh:
    """A UV sphere (seam duplicated), analytic normals, no AO."""
    u = np.linspace(0.0, 1.0, nu + 1)
    v = np.linspace(0.0, 1.0, nv + 1)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    phi, theta = 2 * math.pi * uu, math.pi * (1.0 - vv)
    n = np.stack([np.sin(theta) * np.sin(phi), np.cos(theta), np.sin(theta) * np.cos(phi)], -1).reshape(-1, 3)
    idx = np.arange((nu + 1) * (nv + 1)).reshape(nu + 1, nv + 1)
    a, b = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel()
    c, d = idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    uv = np.stack([uu.ravel(), vv.ravel()], -1)
    return Mesh((radius * n).astype(np.float32), faces.astype(np.int32), n.astype(np.float32), uv.astype(np.float32))


def varied_material(resolution: int = 64) -> MaterialMaps:
    """Smoothly varying albedo, roughness and metallic (every value range used)."""
    y, x = np.mgrid[0:resolution, 0:resolution] / (resolution - 1)
    albedo = np.stack(
        [0.5 + 0.4 * np.sin(6 * x), 0.5 + 0.4 * np.cos(5 * y), 0.3 + 0.25 * np.sin(4 * (x + y))], -1
    )
    roughness = 0.05 + 0.9 * (0.5 + 0.5 * np.sin(3 * math.pi * x) * np.cos(2 * math.pi * y))
    metallic = np.clip(1.6 * (0.5 + 0.5 * np.sin(2 * math.pi * (x - y))) - 0.3, 0.0, 1.0)
    return MaterialMaps(albedo.astype(np.float32), roughness.astype(np.float32), metallic.astype(np.float32))


def procedural_sky(height: int = 64) -> Environment:
    """A sky gradient, a warm sun-ish blob and a dark ground: exists everywhere."""
    v = (np.arange(height) + 0.5) / height
    u = (np.arange(2 * height) + 0.5) / (2 * height)
    uu, vv = np.meshgrid(u, v)
    up = np.cos(math.pi * vv)
    sky = np.where(up[..., None] > 0, [0.4, 0.6, 1.0] * (0.3 + up[..., None]), [0.15, 0.12, 0.1])
    blob = np.exp(-(((uu - 0.3) / 0.05) ** 2 + ((vv - 0.3) / 0.05) ** 2))[..., None] * np.array([8.0, 6.0, 4.0])
    return Environment((sky + blob).astype(np.float32), name="procedural sky")


def downsample_equirect(radiance: np.ndarray, width: int = 256) -> np.ndarray:
    """Box-average an equirect to `width` (keeps the tests' prefiltering cheap)."""
    h, w, _ = radiance.shape
    f = w // width
    return radiance[: h - h % f, : w - w % f, :3].reshape(h // f, f, w // f, f, 3).mean((1, 3)).astype(np.float32)


def gl_context_or_skip():
    """A standalone GL context, or skip the test where none can be made."""
    from renderer.gl.context import create_standalone_context

    try:
        return create_standalone_context()
    except RuntimeError as exc:
        pytest.skip(f"no OpenGL context: {exc}")


def orbit_camera(width: int, height: int, azimuth_deg: float = 30.0, elevation_deg: float = 35.0, distance: float = 3.2) -> Camera:
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    eye = distance * np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)])
    return Camera.look_at(eye, np.zeros(3), np.array([0.0, 1.0, 0.0]), width, height, math.radians(45))


def test_torus_normals_point_outward_and_faces_agree() -> None:
    mesh = torus()
    tri = mesh.vertices[mesh.faces]
    geo = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = np.linalg.norm(geo, axis=1)
    facing = np.sum(geo * mesh.normals[mesh.faces].mean(1), 1)
    assert np.all(facing[area > 1e-9] > 0)
    assert np.allclose(np.linalg.norm(mesh.normals, axis=1), 1, atol=1e-5)
    assert mesh.uv.min() >= 0 and mesh.uv.max() <= 1
    assert 0.5 < mesh.ao.min() < mesh.ao.max() <= 1.0


def test_varied_material_spans_its_ranges() -> None:
    maps = varied_material()
    assert maps.roughness.max() - maps.roughness.min() > 0.8
    assert maps.metallic.min() == 0.0 and maps.metallic.max() == 1.0
    assert np.all((maps.albedo > 0) & (maps.albedo < 1))
