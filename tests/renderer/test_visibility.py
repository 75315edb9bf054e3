"""Specular visibility: the octahedral maps, what they say beside a wall, and
glossy metal that mirrors the wall instead of the sky."""

from __future__ import annotations

import math
import threading

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


@pytest.fixture(scope="module")
def lit_floor_and_wall(floor_and_wall: Mesh):
    """The floor and wall with AO, uv u = 0.25 on the floor (mirror-like
    metal) and u = 0.75 on the wall (white, diffuse), under a uniform sky of
    radiance 1, and the wall's light bounced onto every vertex."""
    from renderer.ao import with_baked_ao
    from renderer.interreflection import bounce_light
    from renderer.visibility import bake_visibility_and_bounces

    on_wall = floor_and_wall.vertices[:, 0] < -0.999
    uv = np.stack([np.where(on_wall, 0.75, 0.25), np.full(len(on_wall), 0.5)], 1).astype(np.float32)
    mesh = with_baked_ao(Mesh(floor_and_wall.vertices, floor_and_wall.faces, floor_and_wall.normals, uv), samples=256)
    maps, rays = bake_visibility_and_bounces(mesh)
    env = EnvironmentTextures.from_environment(Environment(np.ones((16, 32, 3), np.float32)), "cpu", levels=6, width=32)

    def material_at(uv: torch.Tensor) -> MaterialSample:
        wall = (uv[:, :1] > 0.5).float()
        return MaterialSample(torch.ones(len(uv), 3), 0.1 + 0.9 * wall, 1.0 - wall)

    maps = torch.as_tensor(maps)
    return mesh, maps, bounce_light(rays, mesh, maps, material_at, env), material_at, env


def _wall_radiance(mesh: Mesh, material_at, env, origin: np.ndarray, direction: np.ndarray) -> float:
    """What the wall sends back along -direction where the ray from origin meets it (direct light only)."""
    from renderer.shade import shade_environment

    hits = cast_rays(mesh, origin[None], direction[None])
    assert hits.hit[0]
    corners = mesh.faces[hits.triangle[0]]
    ao = float(hits.barycentric[0] @ mesh.ao[corners])
    env.lobe_samples = 0
    surface = SurfaceSample(torch.zeros(1, 3), torch.tensor([[1.0, 0.0, 0.0]]), torch.as_tensor(-direction[None], dtype=torch.float32),
                            torch.tensor([[ao]]))
    diffuse, specular = shade_environment(surface, material_at(torch.tensor([[0.75, 0.5]])), env)
    return float((diffuse + specular)[0, 0])


def test_the_mirror_floor_shows_the_wall_s_own_light_with_one_bounce(lit_floor_and_wall) -> None:
    """Where the glossy floor mirrors the wall, the lobe brings the light the
    wall sends that way (within the maps' 11-degree cells): the wall, not
    black, as a path tracer's first bounce shows it."""
    from renderer.specular_lobe import lobe_bounce

    mesh, maps, bounce, material_at, env = lit_floor_and_wall
    tri, bary = _point_on_floor(mesh, -0.75, 0.05)
    vis = SpecularVisibility.at(maps, torch.as_tensor(mesh.faces.astype(np.int64)), tri, bary).with_bounce(bounce)
    view = _unit(1, 0.5, 0)[None]
    reflected = np.array([-1.0, 0.5, 0.0]) / math.sqrt(1.25)
    expected = _wall_radiance(mesh, material_at, env, np.array([-0.75, 1e-4, 0.05]), reflected)
    got = float(lobe_bounce(torch.tensor([[0.0, 1.0, 0.0]]), view, torch.tensor([[0.1]]), vis, 32)[0, 0])
    assert 0.3 < expected < 1.0  # a white wall, partly shadowed by the floor
    assert got == pytest.approx(expected, rel=0.15)
    away = float(lobe_bounce(torch.tensor([[0.0, 1.0, 0.0]]), _unit(-1, 0.5, 0)[None], torch.tensor([[0.1]]), vis, 32)[0, 0])
    assert away < 0.02 * got  # mirroring the sky: nothing of the object's own light


def test_the_floor_beside_the_wall_gets_the_wall_s_light_as_irradiance(lit_floor_and_wall) -> None:
    """At the wall's foot about half the floor's hemisphere is wall (AO
    ~0.5): the bounce irradiance there is about that share of the wall's
    radiance; far from the wall it is small; and it brightens diffuse shading."""
    mesh, maps, bounce, material_at, env = lit_floor_and_wall
    faces = torch.as_tensor(mesh.faces.astype(np.int64))
    near = SpecularVisibility.at(maps, faces, *_point_on_floor(mesh, -0.95, 0.0)).with_bounce(bounce)
    far = SpecularVisibility.at(maps, faces, *_point_on_floor(mesh, 0.95, 0.0)).with_bounce(bounce)
    wall = _wall_radiance(mesh, material_at, env, np.array([-0.5, 0.5, 0.0]), np.array([-1.0, 0.0, 0.0]))
    e_near, e_far = float(near.irradiance()[0, 0]), float(far.irradiance()[0, 0])
    assert 0.3 * wall < e_near < 0.7 * wall, (e_near, wall)
    assert e_far < 0.5 * e_near
    diffuse = MaterialSample(torch.ones(1, 3), torch.ones(1, 1), torch.zeros(1, 1))
    up, view = torch.tensor([[0.0, 1.0, 0.0]]), _unit(1, 1, 0)[None]
    ao = torch.tensor([[0.55]])
    env.lobe_samples = 0
    lit = shade(SurfaceSample(torch.zeros(1, 3), up, view, ao, near), diffuse, env)["diffuse"][0, 0]
    unlit = shade(SurfaceSample(torch.zeros(1, 3), up, view, ao, near.with_bounce(None)), diffuse, env)["diffuse"][0, 0]
    assert float(lit) > 1.3 * float(unlit)


def test_a_cancelled_bake_stops_and_leaves_nothing_cached(floor_and_wall: Mesh) -> None:
    """A bake whose `cancel` is set raises BakeCancelled and caches nothing:
    the next request of the same geometry bakes it in full."""
    from renderer.bake_cache import geometry_key
    from renderer.bake_cache import BakeCancelled
    from renderer.visibility import _CACHE

    mesh = Mesh.from_arrays(floor_and_wall.vertices * 1.25, floor_and_wall.faces)  # geometry no other test bakes
    stop = threading.Event()
    stop.set()
    with pytest.raises(BakeCancelled):
        vertex_visibility(mesh, stop)
    assert geometry_key(mesh) not in _CACHE
    maps = vertex_visibility(mesh, threading.Event())
    assert maps is not None and maps.shape == (len(mesh.vertices), RESOLUTION, RESOLUTION)
    assert geometry_key(mesh) in _CACHE


def test_a_cancelled_bounce_stops(lit_floor_and_wall) -> None:
    """The bounce light stops once its `cancel` is set (an edit made it
    moot; a large mesh's takes seconds) and runs in full without it."""
    from renderer.bake_cache import BakeCancelled
    from renderer.interreflection import bounce_light
    from renderer.visibility import vertex_bounce_rays

    mesh, maps, (radiance, _), material_at, env = lit_floor_and_wall
    rays = vertex_bounce_rays(mesh)
    stop = threading.Event()
    stop.set()
    with pytest.raises(BakeCancelled):
        bounce_light(rays, mesh, maps, material_at, env, cancel=stop)
    again, _ = bounce_light(rays, mesh, maps, material_at, env, cancel=threading.Event())
    assert float(again.abs().max()) > 0 and torch.equal(again, radiance)
