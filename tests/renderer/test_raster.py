"""The torch rasterizer against Embree ray casting, the camera model and the depth test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from models.camera import Camera
from models.mesh import Mesh
from renderer.gbuffer import GBuffer
from renderer.raster import rasterize, visible_triangles
from renderer.raycast import raycast_gbuffer


def _mesh(tm: trimesh.Trimesh, uv: np.ndarray | None = None) -> Mesh:
    return Mesh.from_arrays(tm.vertices, tm.faces, uv)


def _asset(shared_data: Path, relative: str) -> Mesh:
    loaded = trimesh.load(shared_data / "assets" / relative, process=False)
    tm = loaded.to_geometry() if isinstance(loaded, trimesh.Scene) else loaded
    return _mesh(tm, getattr(tm.visual, "uv", None))


def _orbit_camera(mesh: Mesh, width: int = 256, height: int = 240) -> Camera:
    """An oblique view with fx != fy and an off-centre principal point."""
    c, r = mesh.bounding_sphere()
    cam = Camera.look_at(c + r * np.array([1.6, 1.0, 1.9]), c, np.array([0.0, 1.0, 0.0]), width, height, 0.9)
    return Camera(width, height, cam.fx * 1.1, cam.fy, cam.cx + 7.3, cam.cy - 4.1, cam.c2w)


def _assert_matches_raycast(mesh: Mesh, camera: Camera) -> GBuffer:
    g = rasterize(mesh, camera)
    r = raycast_gbuffer(mesh, camera)
    n_pixels = camera.width * camera.height
    assert g.coverage.sum() > 0.05 * n_pixels
    assert (g.coverage != r.coverage).sum() <= 0.005 * n_pixels
    both = g.coverage & r.coverage
    same = both & (g.triangle == r.triangle)
    # Only pixel centres on shared edges may pick a different (equally valid) triangle.
    assert same.sum() >= 0.999 * both.sum()
    _, radius = mesh.bounding_sphere()
    pos_err = (g.position - r.position).norm(dim=-1)[both] / radius
    assert (pos_err > 1e-4).float().mean() <= 1e-3
    assert (g.position - r.position)[same].norm(dim=-1).max() <= 1e-4 * radius
    assert (g.normal - r.normal)[same].abs().max() <= 1e-4
    assert (g.uv - r.uv)[same].abs().max() <= 1e-4
    assert ((g.depth - r.depth)[same].abs() / radius).max() <= 1e-4
    assert torch.equal(g.triangle[~g.coverage], torch.full_like(g.triangle[~g.coverage], -1))
    return g


@pytest.mark.parametrize(
    "shape",
    [
        lambda: trimesh.creation.icosphere(3),
        lambda: trimesh.creation.torus(1.0, 0.35),
        lambda: trimesh.creation.box([1.0, 0.6, 0.8]),
    ],
    ids=["icosphere", "torus", "box"],
)
def test_matches_raycast_on_primitives(shape) -> None:
    mesh = _mesh(shape())
    _assert_matches_raycast(mesh, _orbit_camera(mesh))


@pytest.mark.parametrize("asset", ["spot/spot.obj", "DamagedHelmet/DamagedHelmet.gltf"])
def test_matches_raycast_on_real_assets(shared_data: Path, asset: str) -> None:
    mesh = _asset(shared_data, asset)
    assert mesh.uv is not None
    _assert_matches_raycast(mesh, _orbit_camera(mesh))


def test_triangles_crossing_the_near_plane_need_no_clipping() -> None:
    """A ground plane reaching behind the camera renders like the ray cast,
    and seen from below its shading normal is flipped to face the camera."""
    v = np.array([[-10, 0, -10], [10, 0, -10], [10, 0, 10], [-10, 0, 10]], float)
    plane = Mesh.from_arrays(v, np.array([[0, 2, 1], [0, 3, 2]]))
    for eye_y, up_sign in [(0.5, 1.0), (-0.5, -1.0)]:
        cam = Camera.look_at(np.array([0, eye_y, 0]), np.array([0.0, 0.0, -3.0]), np.array([0.0, 1, 0]), 120, 90, 1.4)
        g = _assert_matches_raycast(plane, cam)
        assert torch.allclose(g.normal[g.coverage], torch.tensor([0.0, up_sign, 0.0]))
        # Surface points lie in front of the camera: view_dir points back to it.
        to_cam = torch.as_tensor(cam.position, dtype=torch.float32) - g.position[g.coverage]
        assert (to_cam * g.view_dir[g.coverage]).sum(-1).min() > 0


def _quad(z: float, half: float, offset: tuple[float, float] = (0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    ox, oy = offset
    v = np.array([[-half + ox, -half + oy, z], [half + ox, -half + oy, z], [half + ox, half + oy, z], [-half + ox, half + oy, z]])
    return v, np.array([[0, 1, 2], [0, 2, 3]])


def test_nearest_surface_wins_whatever_the_draw_order() -> None:
    cam = Camera(96, 80, 90.0, 90.0, 48.0, 40.0, np.eye(4))  # looks down -z from the origin
    near_v, near_f = _quad(-2.0, 0.5, (0.2, 0.0))
    far_v, far_f = _quad(-3.0, 1.0)
    for near_first in (True, False):
        if near_first:
            v, f = np.concatenate([near_v, far_v]), np.concatenate([near_f, far_f + 4])
            near_ids = {0, 1}
        else:
            v, f = np.concatenate([far_v, near_v]), np.concatenate([far_f, near_f + 4])
            near_ids = {2, 3}
        g = rasterize(Mesh.from_arrays(v, f), cam)
        tri = g.triangle[g.coverage]
        is_near = torch.isin(tri, torch.tensor(sorted(near_ids)))
        assert torch.allclose(g.depth[g.coverage][is_near], torch.tensor(2.0))
        assert torch.allclose(g.depth[g.coverage][~is_near], torch.tensor(3.0))
        # Where the near quad projects, it is what is seen.
        uv, _ = cam.project(near_v)
        inside = _inside_convex(cam, uv, 1e-3)
        assert inside.sum() > 100
        assert torch.all(torch.isin(g.triangle[torch.as_tensor(inside)], torch.tensor(sorted(near_ids))))


def test_interpenetrating_triangles_match_raycast_per_pixel() -> None:
    """Two triangles that cross each other: the visible one flips along the
    intersection line exactly where the ray cast says."""
    v = np.array([[-1, -1, -3.0], [1, -1, -3.0], [0, 1, -3.0], [-1, -0.8, -2.0], [1, -0.8, -4.0], [0, 1.2, -3.0]])
    mesh = Mesh.from_arrays(v, np.array([[0, 1, 2], [3, 4, 5]]))
    cam = Camera(128, 128, 100.0, 100.0, 64.0, 64.0, np.eye(4))
    g = rasterize(mesh, cam)
    r = raycast_gbuffer(mesh, cam)
    assert set(g.triangle[g.coverage].unique().tolist()) == {0, 1}
    differ = (g.triangle != r.triangle).sum().item()
    assert differ <= 2  # at most pixel centres on the intersection line itself


def _inside_convex(camera: Camera, corners: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """(H,W) bool: pixel centres inside the convex polygon `corners` (K,2),
    at least `margin` pixels from its edges (negative: within |margin|)."""
    u, v = np.meshgrid(np.arange(camera.width) + 0.5, np.arange(camera.height) + 0.5)
    p = np.stack([u, v], -1)
    a, b = corners, np.roll(corners, -1, axis=0)
    edge = b - a
    length = np.linalg.norm(edge, axis=1)
    cross = (edge[:, 0] * (p[..., None, 1] - a[:, 1]) - edge[:, 1] * (p[..., None, 0] - a[:, 0])) / length
    orient = np.sign(np.sum(a[:, 0] * np.roll(a[:, 1], -1) - np.roll(a[:, 0], -1) * a[:, 1]))
    return np.all(orient * cross >= margin, axis=-1)


def test_off_centre_camera_puts_a_quad_where_project_does() -> None:
    """fx != fy, cx and cy off-centre and a rotated pose: the covered pixels are
    exactly those whose centres fall inside the projected quad corners."""
    eye = np.array([0.4, 0.3, 3.0])
    base = Camera.look_at(eye, np.array([0.1, -0.1, 0.0]), np.array([0.2, 1.0, 0.0]), 120, 90, 0.8)
    cam = Camera(120, 90, 140.0, 95.0, 71.3, 38.6, base.c2w)
    v = np.array([[-0.5, -0.4, 0.1], [0.6, -0.5, -0.2], [0.5, 0.6, 0.0], [-0.4, 0.5, 0.2]])
    v[3] = v[0] + v[2] - v[1]  # planar parallelogram
    mesh = Mesh.from_arrays(v, np.array([[0, 1, 2], [0, 2, 3]]))
    g = rasterize(mesh, cam)
    corners, depth = cam.project(v)
    assert np.all(depth > 0)
    surely_in = _inside_convex(cam, corners, 1e-3)
    maybe_in = _inside_convex(cam, corners, -1e-3)
    cov = g.coverage.numpy()
    assert surely_in.sum() > 500
    assert np.all(cov[surely_in]) and not np.any(cov[~maybe_in])
    # And each covered pixel's position projects back onto its own centre.
    rows, cols = np.nonzero(cov)
    back, _ = cam.project(g.position.numpy()[rows, cols].astype(np.float64))
    assert np.abs(back - np.stack([cols + 0.5, rows + 0.5], 1)).max() < 1e-3


def test_chunk_size_does_not_change_the_result() -> None:
    mesh = _mesh(trimesh.creation.icosphere(2))
    # One big triangle filling the view as well as many small ones.
    big = Mesh.from_arrays(np.array([[-50, -50, -5.0], [50, -50, -5.0], [0, 50, -5.0]]), np.array([[0, 1, 2]]))
    cam = Camera(100, 70, 80.0, 80.0, 50.0, 35.0, np.eye(4))
    cam_sphere = _orbit_camera(mesh, 100, 70)
    for m, c in [(mesh, cam_sphere), (big, cam)]:
        a, da = visible_triangles(m, c)
        b, db = visible_triangles(m, c, chunk_elements=257)
        assert torch.equal(a, b) and torch.equal(da, db)
        assert (a >= 0).any()


def test_nothing_behind_the_camera_is_drawn() -> None:
    v, f = _quad(+2.0, 1.0)  # behind a camera looking down -z
    g = rasterize(Mesh.from_arrays(v, f), Camera(32, 32, 30.0, 30.0, 16.0, 16.0, np.eye(4)))
    assert not g.coverage.any()
    assert torch.all(g.triangle == -1)


def test_gbuffer_fields_and_gather() -> None:
    mesh = _mesh(trimesh.creation.icosphere(2)).with_ao(np.full(162, 0.3))
    cam = _orbit_camera(mesh, 64, 48)
    g = rasterize(mesh, cam)
    cov = g.coverage
    assert g.position.shape == (48, 64, 3) and g.uv.shape == (48, 64, 2) and g.ao.shape == (48, 64, 1)
    assert torch.allclose(g.ao[cov], torch.tensor(0.3))
    assert torch.allclose(g.normal[cov].norm(dim=-1), torch.tensor(1.0), atol=1e-5)
    assert torch.allclose(g.view_dir.norm(dim=-1), torch.tensor(1.0), atol=1e-5)
    # view_dir points from the surface to the camera; depth is along the view axis.
    eye = torch.as_tensor(cam.position, dtype=torch.float32)
    to_eye = eye - g.position[cov]
    assert torch.allclose(to_eye / to_eye.norm(dim=-1, keepdim=True), g.view_dir[cov], atol=1e-5)
    fwd = torch.as_tensor(cam.forward, dtype=torch.float32)
    assert torch.allclose((-to_eye * fwd).sum(-1), g.depth[cov], atol=1e-5)
    # Flat samples gathered at pixel indices equal the image-shaped values.
    idx = g.sample_covered(200, torch.Generator().manual_seed(1))
    s = g.gather(idx)
    assert len(s) == 200 and s.coverage.all()
    rows, cols = idx // g.width, idx % g.width
    assert torch.equal(s.position, g.position[rows, cols]) and torch.equal(s.triangle, g.triangle[rows, cols])
    assert g.to("cpu").gather(idx).normal.shape == (200, 3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    mesh = _mesh(trimesh.creation.torus(1.0, 0.35))
    cam = _orbit_camera(mesh)
    a = rasterize(mesh, cam, "cpu")
    b = rasterize(mesh, cam, "cuda").to("cpu")
    assert (a.coverage != b.coverage).sum() <= 2
    both = a.coverage & b.coverage & (a.triangle == b.triangle)
    assert torch.allclose(a.position[both], b.position[both], atol=1e-5)
