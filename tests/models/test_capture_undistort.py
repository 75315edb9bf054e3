"""Undistortion and downscaling put image features where the pinhole
camera (Camera.project without distortion, Camera.scaled) says they are."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.camera import Camera, Distortion
from models.capture import load_capture
from models.capture_formats.undistort import coverage, downscale, source_coords, undistort

SIGMA = 1.2


def blobs(width: int, height: int, centres: np.ndarray, sigma: float = SIGMA) -> np.ndarray:
    """An image of small Gaussian dots at continuous pixel positions (u, v)."""
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    image = np.zeros((height, width), np.float64)
    for cu, cv in centres:
        image += np.exp(-((u - cu) ** 2 + (v - cv) ** 2) / (2 * sigma**2))
    return image.astype(np.float32)


def centroid(image: np.ndarray, near: np.ndarray, radius: int = 5) -> np.ndarray:
    """Intensity centroid (u, v) of the dot near `near`."""
    u0, v0 = int(near[0]), int(near[1])
    patch = image[v0 - radius : v0 + radius + 1, u0 - radius : u0 + radius + 1].astype(np.float64)
    u, v = np.meshgrid(np.arange(u0 - radius, u0 + radius + 1) + 0.5, np.arange(v0 - radius, v0 + radius + 1) + 0.5)
    w = patch.sum()
    return np.array([(patch * u).sum() / w, (patch * v).sum() / w])


def world_grid(camera: Camera, n: int = 7, depth: float = 3.0, margin: float = 0.12) -> np.ndarray:
    """World points whose pinhole projections form a grid over the image."""
    u = np.linspace(margin, 1 - margin, n) * camera.width
    v = np.linspace(margin, 1 - margin, n) * camera.height
    uu, vv = (a.ravel() for a in np.meshgrid(u, v))
    pc = np.stack([(uu - camera.cx) / camera.fx * depth, -(vv - camera.cy) / camera.fy * depth,
                   -np.full_like(uu, depth)], -1)
    return pc @ camera.c2w[:3, :3].T + camera.c2w[:3, 3]


DISTORTIONS = [
    Distortion("opencv", -0.25, 0.08, 0.0, 0.0, 0.002, -0.003),
    Distortion("opencv", 0.12, -0.05, 0.01),
    Distortion("fisheye", 0.05, -0.02, 0.004, -0.001),
]


@pytest.mark.parametrize("distortion", DISTORTIONS, ids=["barrel+tangential", "pincushion+k3", "fisheye"])
def test_undistorted_features_land_where_the_pinhole_projects_them(distortion: Distortion) -> None:
    c2w = Camera.look_at(np.array([0.3, -0.2, 4.0]), np.zeros(3), np.array([0, 1.0, 0]), 160, 120, 1.1).c2w
    source = Camera(160, 120, 120.0, 118.0, 83.0, 58.5, c2w, distortion)
    pinhole = source.without_distortion()
    points = world_grid(pinhole)
    distorted_px, depth = source.project(points)  # Distortion.distort places the dots in the photo
    ideal_px, _ = pinhole.project(points)
    assert (depth > 0).all()
    moved = np.linalg.norm(distorted_px - ideal_px, axis=1)
    assert moved.max() > 2.0  # the lens really moves the dots: a no-op undistortion would fail
    photo = blobs(source.width, source.height, distorted_px)

    result = undistort(photo, source)
    assert result.shape == photo.shape
    errors = np.array([np.linalg.norm(centroid(result, p) - p) for p in ideal_px])
    assert errors.max() < 0.1, errors.max()
    raw_errors = np.array([np.linalg.norm(centroid(photo, p) - p) for p in ideal_px])
    assert raw_errors.max() > 1.0


def test_rgb_channels_are_resampled_alike() -> None:
    source = Camera(64, 48, 50.0, 50.0, 32.0, 24.0, np.eye(4), Distortion("opencv", -0.2))
    grey = blobs(64, 48, np.array([[10.0, 10.0], [50.0, 30.0]]))
    rgb = np.stack([grey, 2 * grey, 0.5 * grey], -1)
    out = undistort(rgb, source)
    single = undistort(grey, source)
    np.testing.assert_allclose(out, np.stack([single, 2 * single, 0.5 * single], -1), atol=1e-6)


def test_identity_distortion_is_exact() -> None:
    camera = Camera(33, 21, 30.0, 31.0, 16.1, 10.7, np.eye(4))
    image = np.random.default_rng(0).random((21, 33, 3)).astype(np.float32)
    np.testing.assert_allclose(undistort(image, camera), image, atol=1e-5)
    assert coverage(camera).all()


def test_coverage_marks_pixels_that_saw_outside_the_photo() -> None:
    # Pincushion (k1 > 0): the pinhole image's corners look beyond the photo.
    source = Camera(80, 60, 60.0, 60.0, 40.0, 30.0, np.eye(4), Distortion("opencv", 0.3))
    cov = coverage(source)
    grid = source_coords(source, source.without_distortion())
    assert not cov[0, 0] and not cov[-1, -1] and cov[30, 40]
    assert grid[0, 0, 0] < 0 and grid[0, 0, 1] < 0


@pytest.mark.parametrize("size, factor", [((64, 48), 4), ((63, 45), 2), ((50, 50), 3)])
def test_downscale_keeps_features_where_camera_scaled_projects_them(size: tuple[int, int], factor: int) -> None:
    w, h = size
    camera = Camera(w, h, 50.0, 50.0, w / 2, h / 2, np.eye(4))
    small = camera.scaled(1 / factor)
    point = np.array([[0.31, -0.2, -2.0]])
    full_px = camera.project(point)[0][0]
    image = blobs(w, h, full_px[None], sigma=3.0)  # wide enough to span several output pixels
    out = downscale(image, small.width, small.height)
    assert out.shape == (small.height, small.width)
    np.testing.assert_allclose(out.mean(), image.mean(), rtol=0.05)  # area averaging keeps the mean
    expected = small.project(point)[0][0]
    assert np.linalg.norm(centroid(out, expected, radius=3) - expected) < 0.15


def test_capture_views_undistort_and_downscale_together(tmp_path: Path) -> None:
    """A capture with lens distortion, loaded at 1/2 size: the dots of the
    photo sit where view.camera projects the world points."""
    c2w = Camera.look_at(np.array([0.0, -4.0, 0.5]), np.zeros(3), np.array([0, 0, 1.0]), 200, 160, 1.0).c2w
    source = Camera(200, 160, 150.0, 150.0, 101.0, 79.0, c2w, Distortion("opencv", -0.2, 0.05, 0.0, 0.0, 0.001))
    points = world_grid(source.without_distortion(), n=5, margin=0.15)
    photo = blobs(200, 160, source.project(points)[0])
    rgb = np.clip(np.stack([photo] * 3, -1), 0, 1)
    Image.fromarray(np.round(rgb * 255).astype(np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "transforms.json").write_text(json.dumps({
        "fl_x": 150.0, "fl_y": 150.0, "cx": 101.0, "cy": 79.0, "w": 200, "h": 160, "k1": -0.2, "k2": 0.05, "p1": 0.001,
        "frames": [{"file_path": "a.png", "transform_matrix": c2w.tolist()}],
    }))
    capture = load_capture(tmp_path, downscale=2)
    view = capture.views[0]
    points = points @ capture.world_from_capture[:3, :3].T  # into Relit's +Y-up world
    assert view.camera.distortion.is_identity and not view.source_camera.distortion.is_identity
    assert (view.camera.width, view.camera.height, view.camera.fx) == (100, 80, 75.0)
    image = view.load_image()[:, :, 0]
    expected = view.camera.project(points)[0]
    errors = [np.linalg.norm(centroid(image, p, radius=3) - p) for p in expected]
    assert max(errors) < 0.2, errors
