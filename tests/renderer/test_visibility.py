"""Specular visibility: the octahedral maps, what they say beside a wall, and
glossy metal that mirrors the wall instead of the sky."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import trimesh

from models.lighting import Environment
from models.mesh import Mesh
from renderer.raycast import HAVE_EMBREE, cast_rays
from renderer.shade import EnvironmentTextures, MaterialSample, SurfaceSample, shade
from renderer.visibility import (
    RESOLUTION,
    SpecularVisibility,
    bake_vertex_visibility,
    octahedral_decode,
    octahedral_encode,
    vertex_visibility,
)
from tests.renderer.test_ao import floor_grid


@pytest.fixture(scope="module")
def floor_and_wall() -> Mesh:
    """A floor (y = 0, x and z in [-1, 1]) and a wall standing on its edge
    x = -1, 2 high, facing +X."""
    floor = floor_grid(10, 2.0)
    wall = floor_grid(10, 2.0)
    wall.apply_transform(trimesh.transformations.rotation_matrix(-math.pi / 2, [0, 0, 1]))
    wall.apply_translation([-1.0, 1.0, 0.0])
    tm = trimesh.util.concatenate([floor, wall])
    return Mesh.from_arrays(tm.vertices, tm.faces)


def _point_on_floor(mesh: Mesh, x: float, z: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Triangle (1,) and barycentric weights (1,3) of the floor point (x, 0, z)."""
    hits = cast_rays(mesh, np.array([[x, 0.5, z]]), np.array([[0.0, -1.0, 0.0]]))
    assert hits.hit[0]
    return torch.as_tensor(hits.triangle, dtype=torch.int64), torch.as_tensor(hits.barycentric, dtype=torch.float32)


def _unit(*xyz: float) -> torch.Tensor:
    d = torch.tensor(xyz, dtype=torch.float32)
    return d / d.norm()


def test_octahedral_map_round_trips_every_direction() -> None:
    d = torch.randn(5000, 3, dtype=torch.float64)
    d /= d.norm(dim=1, keepdim=True)
    uv = octahedral_encode(d)
    assert uv.min() >= 0.0 and uv.max() <= 1.0
    back = octahedral_decode(uv.numpy())
    assert np.abs(back - d.numpy()).max() < 1e-9


pytestmark = pytest.mark.skipif(not HAVE_EMBREE, reason="baking visibility needs embreex")


def test_beside_a_wall_only_the_wall_side_is_blocked(floor_and_wall: Mesh) -> None:
    maps = bake_vertex_visibility(floor_and_wall)
    assert maps.shape == (len(floor_and_wall.vertices), RESOLUTION, RESOLUTION)
    tri, bary = _point_on_floor(floor_and_wall, -0.75, 0.05)
    vis = SpecularVisibility.at(torch.as_tensor(maps), torch.as_tensor(floor_and_wall.faces.astype(np.int64)), tri, bary)
    dirs = torch.stack([_unit(-1, 0.4, 0), _unit(-1, 1.5, 0.2), _unit(1, 0.4, 0), _unit(0, 1, 0), _unit(0.3, 0.5, 1)])
    seen = vis(dirs[None])[0]
    assert seen[:2].max() < 0.15, seen  # into the wall
    assert seen[2:].min() > 0.85, seen  # away from it, up, along it


def test_a_glossy_metal_floor_mirrors_the_wall_not_the_sky(floor_and_wall: Mesh) -> None:
    """Under a uniform sky, a mirror-like floor beside a wall: where its
    reflection meets the wall it is dark with the maps; AO's guess left it
    nearly as bright as in the open (the helmet's too-bright chrome)."""
    env = EnvironmentTextures.from_environment(Environment(np.ones((16, 32, 3), np.float32)), "cpu", levels=6, width=32)
    maps = torch.as_tensor(vertex_visibility(floor_and_wall))
    faces = torch.as_tensor(floor_and_wall.faces.astype(np.int64))
    tri, bary = _point_on_floor(floor_and_wall, -0.75, 0.05)
    material = MaterialSample(torch.ones(2, 3), torch.full((2, 1), 0.1), torch.ones(2, 1))
    n = torch.tensor([[0.0, 1.0, 0.0]] * 2)
    views = torch.stack([_unit(1, 0.5, 0), _unit(-1, 0.5, 0)])  # reflections towards / away from the wall
    position = torch.tensor([[-0.75, 0.0, 0.05]] * 2)
    ao = torch.full((2, 1), 0.75)  # about what AO reads there
    vis = SpecularVisibility.at(maps, faces, tri.expand(2), bary.expand(2, 3))
    for samples in (0, 32):
        env.lobe_samples = samples
        guessed = shade(SurfaceSample(position, n, views, ao), material, env)["specular"][:, 0]
        measured = shade(SurfaceSample(position, n, views, ao, vis), material, env)["specular"][:, 0]
        open_sky = shade(SurfaceSample(position, n, views), material, env)["specular"][:, 0]
        assert measured[0] < 0.1 * open_sky[0], (samples, measured, open_sky)
        assert guessed[0] > 0.5 * open_sky[0]
        assert measured[1] == pytest.approx(float(open_sky[1]), rel=0.05)
