"""Embree ray casting: exact hits, ray limits, shadow queries, the per-mesh cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from models.camera import Camera
from models.mesh import Mesh
from renderer.raycast import RayCaster, cast_rays, occluded, ray_caster, raycast_gbuffer


def _unit_square(z: float = 0.0) -> Mesh:
    v = np.array([[0, 0, z], [1, 0, z], [1, 1, z], [0, 1, z]], float)
    return Mesh.from_arrays(v, np.array([[0, 1, 2], [0, 2, 3]]))


def test_hits_carry_exact_distance_and_barycentrics() -> None:
    mesh = _unit_square()
    o = np.array([[0.7, 0.2, 2.0], [0.25, 0.5, -3.0], [1.5, 0.5, 1.0]])
    d = np.array([[0, 0, -1.0], [0, 0, 2.0], [0, 0, -1.0]])  # unnormalised middle ray: t in its units
    hits = cast_rays(mesh, o, d)
    assert hits.triangle.tolist() == [0, 1, -1]
    assert np.allclose(hits.t[:2], [2.0, 1.5], atol=1e-12) and np.isinf(hits.t[2])
    # Barycentrics rebuild the hit point from the triangle's corners.
    for k in range(2):
        corners = mesh.vertices[mesh.faces[hits.triangle[k]]].astype(np.float64)
        assert np.allclose(hits.barycentric[k] @ corners, o[k] + hits.t[k] * d[k], atol=1e-12)
        assert np.isclose(hits.barycentric[k].sum(), 1.0)
    assert np.all(hits.barycentric[2] == 0)


def test_tmax_limits_hits_and_shadow_rays() -> None:
    mesh = _unit_square()
    o = np.array([[0.5, 0.5, 1.0]] * 3)
    d = np.array([[0, 0, -1.0]] * 3)
    tmax = np.array([0.5, 1.5, np.inf])
    hits = cast_rays(mesh, o, d, tmax)
    assert hits.hit.tolist() == [False, True, True]
    assert occluded(mesh, o, d, tmax).tolist() == [False, True, True]
    assert occluded(mesh, o, -d).tolist() == [False, False, False]


def test_random_rays_agree_with_brute_force() -> None:
    tm = trimesh.creation.torus(1.0, 0.3)
    mesh = Mesh.from_arrays(tm.vertices, tm.faces)
    rng = np.random.default_rng(3)
    o = rng.normal(size=(2000, 3)) * 2.0
    d = -o + rng.normal(size=(2000, 3)) * 0.8
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    hits = cast_rays(mesh, o, d)
    # Independent float64 reference: nearest hit over all triangles.
    tri = mesh.vertices.astype(np.float64)[mesh.faces]  # the float32 geometry Embree sees
    t_ref = np.full(len(o), np.inf)
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    for i in range(len(o)):
        p = np.cross(d[i], e2)
        det = np.einsum("ij,ij->i", e1, p)
        s = o[i] - tri[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            b1 = np.einsum("ij,ij->i", s, p) / det
            q = np.cross(s, e1)
            b2 = q @ d[i] / det
            t = np.einsum("ij,ij->i", e2, q) / det
        ok = (b1 >= 0) & (b2 >= 0) & (b1 + b2 <= 1) & (t > 0)
        if ok.any():
            t_ref[i] = t[ok].min()
    assert np.array_equal(np.isfinite(t_ref), hits.hit)
    assert hits.hit.sum() > 300
    assert np.allclose(hits.t[hits.hit], t_ref[hits.hit], rtol=1e-9)


def test_caster_is_built_once_per_mesh() -> None:
    a, b = _unit_square(), _unit_square(1.0)
    assert ray_caster(a) is ray_caster(a)
    assert ray_caster(a) is not ray_caster(b)
    caster = RayCaster(b)
    assert ray_caster(caster) is caster
    assert cast_rays(caster, np.array([[0.5, 0.5, 3.0]]), np.array([[0, 0, -1.0]])).t[0] == pytest.approx(2.0)


def test_raycast_gbuffer_of_a_plane_is_analytic() -> None:
    """Ground plane y = 0 seen from above: depth along the view axis, uv and
    position follow from the pinhole model alone."""
    v = np.array([[-4, 0, 4], [4, 0, 4], [4, 0, -4], [-4, 0, -4]], float)
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    mesh = Mesh.from_arrays(v, np.array([[0, 1, 2], [0, 2, 3]]), uv)
    cam = Camera.look_at(np.array([0.0, 3.0, 0.0]), np.zeros(3), np.array([0.0, 0.0, -1.0]), 40, 30, 1.0)
    g = raycast_gbuffer(mesh, cam)
    assert g.coverage.all()
    assert torch.allclose(g.depth, torch.tensor(3.0), atol=1e-6)
    assert torch.allclose(g.normal, torch.tensor([0.0, 1.0, 0.0]))
    o, d = cam.pixel_rays()
    expected = o + d * (3.0 / -d[..., 1:2])
    assert np.allclose(g.position.numpy(), expected, atol=1e-6)
    assert np.allclose(g.uv.numpy(), np.stack([(expected[..., 0] + 4) / 8, (4 - expected[..., 2]) / 8], -1), atol=1e-6)


def test_trimesh_fallback_agrees_or_says_what_is_missing() -> None:
    mesh = _unit_square()
    try:
        import rtree  # noqa: F401  (trimesh's pure engine needs it)
    except ImportError:
        with pytest.raises(ImportError, match="embreex"):
            RayCaster(mesh, backend="trimesh")
        return
    with pytest.warns(UserWarning):
        caster = RayCaster(mesh, backend="trimesh")
    hits = caster.intersect(np.array([[0.7, 0.2, 2.0]]), np.array([[0, 0, -1.0]]))
    assert hits.triangle[0] == 0 and hits.t[0] == pytest.approx(2.0)
