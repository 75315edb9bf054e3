"""Viewport navigation maths, headless: the viewport relies on these promises."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.camera import Camera
from models.navigation import MAX_ORBIT_PITCH, OrbitNavigator, intersect_triangles, pixel_ray, up_basis

UPS = [(0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.0, -1.0, 0.0), (0.3, -0.5, 0.8)]


def _nav() -> OrbitNavigator:
    return OrbitNavigator(target=(0.3, -0.2, 1.0), distance=3.0, yaw=0.4, pitch=0.3, roll=0.0)


def test_default_pose_is_opengl_default() -> None:
    nav = OrbitNavigator(target=(0, 0, 0), distance=2.0, yaw=0.0, pitch=0.0)
    np.testing.assert_allclose(nav.c2w(), np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 2], [0, 0, 0, 1]]), atol=1e-12)


def test_camera_matches_look_at() -> None:
    nav = _nav()
    cam = nav.camera(640, 480)
    ref = Camera.look_at(nav.eye, nav.target, np.array([0, 1, 0]), 640, 480, cam.fov_x)
    np.testing.assert_allclose(cam.c2w, ref.c2w, atol=1e-9)
    assert cam.fov_y == pytest.approx(nav.fov_y)
    # The target projects to the image centre.
    px, depth = cam.project(np.array([nav.target]))
    np.testing.assert_allclose(px[0], [320, 240], atol=1e-6)
    assert depth[0] == pytest.approx(3.0)


@pytest.mark.parametrize("up", UPS)
def test_up_basis_is_a_rotation_onto_up(up: tuple[float, float, float]) -> None:
    r = up_basis(np.array(up))
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(r @ [0, 1, 0], np.array(up) / np.linalg.norm(up), atol=1e-12)


@pytest.mark.parametrize("up", UPS)
@pytest.mark.parametrize("d_yaw,d_pitch", [(0.5, 0.2), (-2.0, -0.7), (10.0, 3.0)])
def test_orbit_keeps_distance_and_target(d_yaw: float, d_pitch: float, up: tuple) -> None:
    nav = _nav().with_up(np.array(up))
    moved = nav.orbit(d_yaw, d_pitch)
    assert moved.target == nav.target
    assert np.linalg.norm(moved.eye - np.asarray(moved.target)) == pytest.approx(nav.distance)
    assert abs(moved.pitch) <= MAX_ORBIT_PITCH + 1e-12
    assert not np.allclose(moved.eye, nav.eye)
    # Turning in yaw alone keeps the height along `up` and the camera level.
    unit = np.array(moved.up)
    turned = nav.orbit(d_yaw, 0.0)
    assert np.dot(turned.eye - nav.eye, unit) == pytest.approx(0.0, abs=1e-9)
    assert np.dot(turned.rotation[:, 0], unit) == pytest.approx(0.0, abs=1e-9)


def test_pan_moves_target_in_view_plane() -> None:
    nav = _nav()
    moved = nav.pan(40.0, -25.0, viewport_height=500)
    delta = np.asarray(moved.target) - np.asarray(nav.target)
    assert np.linalg.norm(delta) > 0
    assert np.dot(delta, nav.rotation[:, 2]) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(moved.eye - nav.eye, delta, atol=1e-12)
    # The point that was under the target follows the cursor by the same pixels.
    cam0, cam1 = nav.camera(500, 500), moved.camera(500, 500)
    p0, _ = cam0.project(np.array([nav.target]))
    p1, _ = cam1.project(np.array([nav.target]))
    np.testing.assert_allclose(p1[0] - p0[0], [40.0, -25.0], atol=1e-6)


def test_zoom_changes_only_distance() -> None:
    nav = _nav()
    closer, farther = nav.zoom(2), nav.zoom(-2)
    assert closer.distance < nav.distance < farther.distance
    assert closer.target == nav.target and closer.yaw == nav.yaw
    assert nav.zoom(1e6).distance > 0


def test_fly_and_look() -> None:
    nav = _nav()
    flown = nav.fly(forward=1.0, right=0.0, up=0.0)
    np.testing.assert_allclose(flown.eye - nav.eye, -nav.rotation[:, 2], atol=1e-12)
    looked = nav.look(0.3, -0.1)
    np.testing.assert_allclose(looked.eye, nav.eye, atol=1e-12)
    assert not np.allclose(looked.target, nav.target)


@pytest.mark.parametrize("up", UPS)
def test_aim_at_keeps_eye_and_centres_point(up: tuple) -> None:
    nav = _nav().with_up(np.array(up))
    point = np.array([2.0, 0.5, -1.0])
    aimed = nav.aim_at(point)
    np.testing.assert_allclose(aimed.eye, nav.eye, atol=1e-9)
    px, _ = aimed.camera(300, 200).project(point[None])
    np.testing.assert_allclose(px[0], [150, 100], atol=1e-6)


@pytest.mark.parametrize("aspect", [0.5, 1.0, 16 / 9])
def test_frame_puts_sphere_inside_frustum(aspect: float) -> None:
    center, radius = np.array([1.0, 2.0, -3.0]), 0.7
    nav = _nav().frame(center, radius, aspect)
    h = 400
    w = int(round(h * aspect))
    cam = nav.camera(w, h)
    # Points on the sphere (dense sampling) all project inside the image.
    rng = np.random.default_rng(0)
    dirs = rng.normal(size=(4000, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    px, depth = cam.project(center + radius * dirs)
    assert (depth > 0).all()
    assert (px[:, 0] >= 0).all() and (px[:, 0] <= w).all()
    assert (px[:, 1] >= 0).all() and (px[:, 1] <= h).all()
    # ...and it fills a good part of the narrower axis (not framed from miles away).
    extent = (px.max(0) - px.min(0)) / np.array([w, h])
    assert extent.max() > 0.7
    near, far = nav.clip_range(center, radius)
    assert 0 < near < depth.min() and depth.max() < far


@pytest.mark.parametrize("world_up", UPS)
@pytest.mark.parametrize("seed", range(4))
def test_snap_reproduces_camera_pose(seed: int, world_up: tuple) -> None:
    rng = np.random.default_rng(seed)
    eye = rng.normal(size=3) * 3
    up = rng.normal(size=3)  # arbitrary roll
    cam = Camera.look_at(eye, np.zeros(3), up, 800, 600, math.radians(50))
    nav = OrbitNavigator().with_up(np.array(world_up)).snap_to(cam, focus=np.zeros(3))
    np.testing.assert_allclose(nav.c2w(), cam.c2w, atol=1e-9)
    assert nav.fov_y == pytest.approx(cam.fov_y)
    same = nav.camera(800, 600)
    np.testing.assert_allclose(same.K, cam.K, atol=1e-9)
    np.testing.assert_allclose(nav.target, np.zeros(3), atol=1e-9)


def test_snap_straight_down() -> None:
    c2w = np.eye(4)
    c2w[:3, :3] = [[1, 0, 0], [0, 0, 1], [0, -1, 0]]  # looking down -Y
    c2w[:3, 3] = [0, 5, 0]
    cam = Camera.from_fov(100, 100, 1.0, c2w)
    nav = OrbitNavigator().snap_to(cam)
    np.testing.assert_allclose(nav.c2w(), c2w, atol=1e-9)


def test_pixel_ray_inverts_project() -> None:
    cam = _nav().camera(320, 200)
    rng = np.random.default_rng(1)
    for u, v in rng.uniform([0, 0], [320, 200], size=(20, 2)):
        o, d = pixel_ray(cam, u, v)
        assert np.linalg.norm(d) == pytest.approx(1.0)
        px, depth = cam.project(o + 2.5 * d)
        np.testing.assert_allclose(px[0], [u, v], atol=1e-8)
        assert depth[0] > 0


def test_pick_triangle_under_cursor() -> None:
    verts = np.array([[-1, -1, 0], [1, -1, 0], [0, 1, 0]], np.float32)
    faces = np.array([[0, 1, 2]])
    cam = Camera.look_at(np.array([0, 0, 4.0]), np.zeros(3), np.array([0, 1, 0]), 100, 100, 0.8)
    t = intersect_triangles(*pixel_ray(cam, 50, 50), verts, faces)
    assert t == pytest.approx(4.0)
    assert intersect_triangles(*pixel_ray(cam, 1, 1), verts, faces) is None


def test_pick_nearest_of_many_across_chunks() -> None:
    # A stack of 10 parallel triangles at z = 0, -1, ..., -9; the nearest is at z = 0.
    base = np.array([[-1, -1, 0], [1, -1, 0], [0, 1, 0]], np.float64)
    verts = np.concatenate([base - [0, 0, k] for k in range(10)])[::-1].copy()
    faces = np.arange(30).reshape(10, 3)
    t = intersect_triangles(np.array([0, 0, 4.0]), np.array([0, 0, -1.0]), verts, faces, chunk=3)
    assert t == pytest.approx(4.0)
