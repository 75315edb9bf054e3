"""Diffuse light through the visibility maps: beside a wall, a compact light
behind the wall leaves the floor in shadow and one in the open lights it
fully, where AO alone dims both by the same share."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models.lighting import Environment
from models.mesh import Mesh
from renderer.envmap import direction_to_uv
from renderer.raycast import HAVE_EMBREE, cast_rays
from renderer.shade import EnvironmentTextures, MaterialSample, SurfaceSample, shade
from renderer.visibility import SpecularVisibility
from tests.renderer.test_visibility import _point_on_floor, floor_and_wall  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(not HAVE_EMBREE, reason="baking visibility needs embreex")

FLOOR_POINT = (-0.75, 0.05)
"""A floor point a quarter from the wall (x = -1, 2 high): the wall covers
its hemisphere's -X side up to ~83 degrees above the horizon."""


def _compact_light(towards: np.ndarray, height: int = 64) -> np.ndarray:
    """Equirect radiance: 0.05 everywhere, 400 within 6 degrees of `towards`."""
    v, u = np.meshgrid((np.arange(height) + 0.5) / height, (np.arange(2 * height) + 0.5) / (2 * height), indexing="ij")
    phi, theta = (u - 0.5) * 2.0 * math.pi, v * math.pi
    dirs = np.stack([np.sin(theta) * np.sin(phi), np.cos(theta), -np.sin(theta) * np.cos(phi)], -1)
    check = direction_to_uv(torch.as_tensor(dirs.reshape(-1, 3))).numpy()  # the renderer's own layout
    assert np.allclose(check, np.stack([u, v], -1).reshape(-1, 2), atol=1e-6)
    radiance = np.full(dirs.shape, 0.05, np.float32)
    radiance[dirs @ (towards / np.linalg.norm(towards)) > math.cos(math.radians(6.0))] = 400.0
    return radiance


def _open_share(mesh: Mesh, radiance: np.ndarray, point: np.ndarray, samples: int = 40000) -> float:
    """Brute force: the share of the cosine-weighted light that reaches an
    upward-facing point (rays cast against the mesh)."""
    rng = np.random.default_rng(0)
    r, phi = np.sqrt(rng.random(samples)), 2.0 * math.pi * rng.random(samples)
    dirs = np.stack([r * np.cos(phi), np.sqrt(1.0 - r * r), r * np.sin(phi)], -1)  # cosine-weighted about +Y
    light = _lookup(radiance, dirs)
    escaped = ~cast_rays(mesh, np.repeat(point[None] + [0.0, 1e-4, 0.0], samples, 0), dirs).hit
    return float((light * escaped).sum() / light.sum())


def _lookup(radiance: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    uv = direction_to_uv(torch.as_tensor(dirs)).numpy()
    h, w = radiance.shape[:2]
    return radiance[np.clip((uv[:, 1] * h).astype(int), 0, h - 1), np.clip((uv[:, 0] * w).astype(int), 0, w - 1), 0]


@pytest.mark.parametrize("towards", [(-1.0, 0.5, 0.0), (1.0, 0.5, 0.0)], ids=["behind-the-wall", "in-the-open"])
def test_a_compact_light_s_diffuse_shadow_follows_the_wall(floor_and_wall: Mesh, towards) -> None:  # noqa: F811
    from renderer.ao import with_baked_ao
    from renderer.interreflection import bounce_light
    from renderer.visibility import bake_visibility_and_bounces

    mesh = with_baked_ao(floor_and_wall, samples=256)
    uv = np.zeros((len(mesh.vertices), 2), np.float32)
    mesh = Mesh(mesh.vertices, mesh.faces, mesh.normals, uv, ao=mesh.ao)
    maps, rays = bake_visibility_and_bounces(mesh)
    maps = torch.as_tensor(maps)
    radiance = _compact_light(np.array(towards))
    env = EnvironmentTextures.from_environment(Environment(radiance), "cpu", levels=6, width=128)
    env.lobe_samples = 0
    black = lambda uv: MaterialSample(torch.zeros(len(uv), 3), torch.ones(len(uv), 1), torch.zeros(len(uv), 1))  # noqa: E731
    bounce = bounce_light(rays, mesh, maps, black, env)  # the correction alone: the object sends no light

    x, z = FLOOR_POINT
    tri, bary = _point_on_floor(mesh, x, z)
    vis = SpecularVisibility.at(maps, torch.as_tensor(mesh.faces.astype(np.int64)), tri, bary).with_bounce(bounce)
    ao = torch.tensor([[float(bary[0].numpy() @ mesh.ao[mesh.faces[int(tri[0])]])]])
    white = MaterialSample(torch.ones(1, 3), torch.ones(1, 1), torch.zeros(1, 1))
    at = (torch.tensor([[x, 0.0, z]]), torch.tensor([[0.0, 1.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]]))
    open_sky = float(shade(SurfaceSample(*at), white, env)["diffuse"][0, 0])
    with_ao = float(shade(SurfaceSample(*at, ao), white, env)["diffuse"][0, 0])
    with_maps = float(shade(SurfaceSample(*at, ao, vis), white, env)["diffuse"][0, 0])

    expected = _open_share(mesh, radiance, np.array([x, 0.0, z]))
    assert 0.5 < float(ao) < 0.8  # AO: the wall takes a third of the hemisphere either way
    assert with_ao / open_sky == pytest.approx(float(ao), rel=1e-3)
    assert with_maps / open_sky == pytest.approx(expected, abs=0.03), (with_maps / open_sky, expected, float(ao))
    assert abs(with_ao / open_sky - expected) > 0.2, (with_ao / open_sky, expected)  # what AO alone got wrong


def test_under_uniform_light_the_correction_leaves_ao_as_it_is(floor_and_wall: Mesh) -> None:  # noqa: F811
    """Where the light comes from evenly, AO is right and the maps add
    nothing, even where their open share and AO's bake disagree (the
    foot of the wall, with AO made up to disagree more)."""
    from renderer.diffuse_occlusion import occlusion_correction
    from renderer.visibility import bake_vertex_visibility

    maps = torch.as_tensor(bake_vertex_visibility(floor_and_wall)).float()
    normals = torch.as_tensor(floor_and_wall.normals, dtype=torch.float32)
    ao = torch.linspace(0.2, 1.0, len(maps))
    env = EnvironmentTextures.from_environment(Environment(np.full((32, 64, 3), 2.0, np.float32)), "cpu", levels=6, width=64)
    correction = occlusion_correction(maps, normals, ao, env.specular[0], env.irradiance)
    assert correction.abs().max() < 1e-4
    lit = occlusion_correction(maps, normals, ao, torch.as_tensor(_compact_light(np.array([-1.0, 0.5, 0.0]))), env.irradiance)
    assert lit.abs().max() > 0.1  # the same maps do correct a compact light
