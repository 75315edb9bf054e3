"""Ambient occlusion and light visibility: open, enclosed and creased geometry,
an analytic occluder, and shadows cast where geometry says."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from models.lighting import PunctualLight
from models.mesh import Mesh
from renderer.ao import ambient_occlusion, bake_vertex_ao, cached_vertex_ao, visibility_to_lights, with_baked_ao


def floor_grid(n: int, size: float = 1.0) -> trimesh.Trimesh:
    """A subdivided square in the xz plane (y = 0), normals +Y."""
    xs = np.linspace(-size / 2, size / 2, n + 1)
    x, z = np.meshgrid(xs, xs)
    v = np.stack([x.ravel(), np.zeros(x.size), z.ravel()], 1)
    i = np.arange(n)[:, None] * (n + 1) + np.arange(n)[None, :]
    a, b, c, d = i, i + 1, i + n + 2, i + n + 1
    f = np.concatenate([np.stack([a, d, c], -1).reshape(-1, 3), np.stack([a, c, b], -1).reshape(-1, 3)])
    return trimesh.Trimesh(v, f, process=False)


def _mesh(*parts: trimesh.Trimesh) -> Mesh:
    tm = trimesh.util.concatenate(list(parts))
    return Mesh.from_arrays(tm.vertices, tm.faces)


def test_a_lone_plane_is_unoccluded() -> None:
    mesh = _mesh(floor_grid(8))
    ao = bake_vertex_ao(mesh, samples=32)
    assert ao.shape == (len(mesh.vertices),) and ao.dtype == np.float32
    assert np.all(ao == 1.0)


def test_inside_a_closed_box_is_dark() -> None:
    box = trimesh.creation.box([4.0, 4.0, 4.0])
    box.invert()  # faces inward; occlusion does not care about winding
    mesh = _mesh(floor_grid(4), box)
    ao = bake_vertex_ao(mesh, samples=64)
    plane = np.arange(25)
    assert ao[plane].max() <= 0.0 + 1e-6
    # Occluders beyond max_distance are ignored.
    assert np.all(bake_vertex_ao(mesh, samples=64, max_distance=1.0)[plane] == 1.0)


def test_l_shape_is_darker_in_its_inner_corner() -> None:
    floor = floor_grid(10, 2.0)  # y = 0, x and z in [-1, 1]
    wall = floor_grid(10, 2.0)
    wall.apply_transform(trimesh.transformations.rotation_matrix(-math.pi / 2, [0, 0, 1]))  # normal +X
    wall.apply_translation([-1.0, 1.0, 0.0])  # the plane x = -1, y in [0, 2]
    tm = trimesh.util.concatenate([floor, wall])
    tm.merge_vertices()  # one surface, bent along the crease
    mesh = Mesh.from_arrays(tm.vertices, tm.faces)
    ao = bake_vertex_ao(mesh, samples=256)
    v = mesh.vertices
    middle = (np.abs(v[:, 2]) < 0.5) & (np.abs(v[:, 1]) < 1e-6)  # floor vertices away from the side edges
    columns = np.linspace(-1.0, 1.0, 11)
    mean_ao = np.array([ao[middle & (np.abs(v[:, 0] - x) < 1e-6)].mean() for x in columns])
    crease, floor_columns = mean_ao[0], mean_ao[1:]
    # Moving away from the wall, the floor sees ever more sky.
    assert np.all(np.diff(floor_columns) > 0)
    assert floor_columns[0] < 0.65 and floor_columns[-1] > 0.9
    assert crease < floor_columns[-1] - 0.15


def test_matches_the_analytic_disc_occluder() -> None:
    """A disc of radius a at height h above a point blocks sin^2(theta) =
    a^2 / (a^2 + h^2) of its cosine-weighted hemisphere."""
    a, h = 1.0, 0.75
    disc = trimesh.creation.cylinder(radius=a, height=1e-3, sections=256)
    disc.apply_translation([0, 0, h])
    mesh = Mesh.from_arrays(disc.vertices, disc.faces)
    ao = ambient_occlusion(mesh, np.zeros((1, 3)), np.array([[0, 0, 1.0]]), samples=4096, seed=1)
    assert ao[0] == pytest.approx(h * h / (a * a + h * h), abs=0.01)
    # Tilting the normal away from the disc reveals more sky.
    tilted = ambient_occlusion(mesh, np.zeros((1, 3)), np.array([[1.0, 0, 1.0]]), samples=4096, seed=1)
    assert tilted[0] > ao[0] + 0.05


def test_a_mesh_seen_again_reuses_its_ao_bake() -> None:
    """A new Mesh of the same arrays (each fit builds its own) finds the
    bake; other geometry or other settings bake afresh."""
    from renderer import ao as ao_module
    from renderer.bake_cache import geometry_key

    tm = trimesh.creation.torus(1.0, 0.4)
    mesh, same = Mesh.from_arrays(tm.vertices, tm.faces), Mesh.from_arrays(tm.vertices.copy(), tm.faces.copy())
    first = cached_vertex_ao(mesh, samples=16)
    assert geometry_key(same, 16, 0) in ao_module._AO_CACHE  # found by its arrays, not its object
    again = cached_vertex_ao(same, samples=16)
    assert not np.shares_memory(again, first)  # each caller gets its own copy
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(first, bake_vertex_ao(mesh, samples=16))
    assert geometry_key(mesh, 16, 1) not in ao_module._AO_CACHE
    assert not np.array_equal(cached_vertex_ao(mesh, samples=16, seed=1), first)
    moved = Mesh.from_arrays(tm.vertices + 1e-3, tm.faces)
    assert geometry_key(moved, 16, 0) not in ao_module._AO_CACHE


def test_a_cancelled_ao_bake_stops_and_leaves_nothing_cached() -> None:
    """Once its `cancel` event is set, an AO bake raises BakeCancelled and
    caches nothing: the same geometry is baked in full when asked again."""
    import threading

    from renderer import ao as ao_module
    from renderer.bake_cache import BakeCancelled, geometry_key

    tm = trimesh.creation.torus(1.25, 0.5)  # geometry no other test bakes
    mesh = Mesh.from_arrays(tm.vertices, tm.faces)
    stop = threading.Event()
    stop.set()
    with pytest.raises(BakeCancelled):
        cached_vertex_ao(mesh, samples=16, cancel=stop)
    assert geometry_key(mesh, 16, 0) not in ao_module._AO_CACHE
    np.testing.assert_array_equal(cached_vertex_ao(mesh, samples=16, cancel=threading.Event()),
                                  bake_vertex_ao(mesh, samples=16))


def test_with_baked_ao_keeps_geometry() -> None:
    tm = trimesh.creation.torus(1.0, 0.4)
    mesh = Mesh.from_arrays(tm.vertices, tm.faces)
    baked = with_baked_ao(mesh, samples=16)
    assert baked.ao is not None and baked.ao.shape == (len(mesh.vertices),)
    assert np.array_equal(baked.vertices, mesh.vertices) and np.array_equal(baked.faces, mesh.faces)
    # The inner ring of a torus sees itself; the outer ring does not.
    r = np.linalg.norm(mesh.vertices[:, [0, 2]], axis=1)
    assert baked.ao[r < 0.7].mean() < baked.ao[r > 1.3].mean() - 0.1
    assert baked.ao[r > 1.35].min() > 0.9


def test_visibility_to_lights_casts_the_geometric_shadow() -> None:
    ground = floor_grid(1, 10.0)
    blocker = floor_grid(1, 1.0)
    blocker.apply_translation([0, 1.0, 0])  # a 1x1 square 1 unit above the origin
    mesh = _mesh(ground, blocker)
    xs = np.linspace(-1.45, 1.45, 30)  # no point on a shadow boundary
    pts = np.stack([xs, np.zeros_like(xs), np.zeros_like(xs)], 1)
    normals = np.tile([0.0, 1.0, 0.0], (len(xs), 1))
    point = PunctualLight(kind="point", position=(0.0, 2.0, 0.0))
    sun = PunctualLight(kind="directional", direction=(-1.0, -1.0, 0.0))  # shines down and to -x
    vis = visibility_to_lights(mesh, pts, normals, [point, sun])
    assert vis.shape == (30, 2)
    # Point light at height 2 over a blocker at height 1: the shadow doubles it, |x| < 1.
    assert np.array_equal(vis[:, 0] == 0, np.abs(xs) < 1.0)
    # Sun at 45 degrees: the shadow is the blocker shifted by -1 in x, x in (-1.5, -0.5).
    assert np.array_equal(vis[:, 1] == 0, (xs > -1.5) & (xs < -0.5))
    # A light placed between the point and the blocker is not shadowed by it.
    low = PunctualLight(kind="point", position=(0.0, 0.5, 0.0))
    assert np.all(visibility_to_lights(mesh, pts, normals, [low]) == 1)


def test_a_vertex_buried_in_another_part_does_not_darken_its_triangles() -> None:
    # A coarse 2x2 plane whose centre vertex sits inside a small closed cube
    # (parts pushed into each other, as in real assets): at the vertex itself
    # every ray is blocked, but the visible surface around it is open.
    cube = trimesh.creation.box(extents=(0.2, 0.2, 0.2))
    mesh = _mesh(floor_grid(2, size=2.0), cube)
    centre = int(np.argmin(np.linalg.norm(mesh.vertices[:9], axis=1)))
    at_vertex = ambient_occlusion(mesh, mesh.vertices[centre : centre + 1], mesh.normals[centre : centre + 1], 64)
    assert at_vertex[0] == 0.0  # the old per-vertex bake: black
    ao = bake_vertex_ao(mesh, samples=256)
    assert ao[centre] > 0.6  # measured on the visible plane around it
    assert ao[centre] < 0.99  # ...which the cube still shades a little
