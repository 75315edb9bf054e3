"""COLMAP sparse models: text and binary round trips (written from the lego
poses, read back as a capture), camera models, and malformed files."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from models.camera import Camera, Distortion
from models.capture import load_capture
from models.capture_formats.colmap import (
    ColmapModel,
    from_cameras,
    qvec_to_rotation,
    read_model,
    read_points,
    rotation_to_qvec,
    write_model,
)
from models.errors import CaptureError

# A numpy overflow or invalid-value warning would mean a bad input slipped past the checks.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def png(path: Path, width: int, height: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(path)


@pytest.mark.parametrize("binary", [False, True])
def test_lego_poses_round_trip_through_colmap(shared_data: Path, tmp_path: Path, binary: bool) -> None:
    lego = load_capture(shared_data / "captures" / "lego")
    cameras = [v.camera for v in lego.views]
    names = [Path(v.name).name for v in lego.views]
    blank = tmp_path / "blank.png"
    png(blank, 800, 800)
    (tmp_path / "images").mkdir()
    for name in names:
        (tmp_path / "images" / name).write_bytes(blank.read_bytes())
    points = np.random.default_rng(1).normal(0, 0.2, (200, 3))  # tighter than the frusta
    write_model(tmp_path / "sparse" / "0", from_cameras(cameras, names), points, binary=binary)

    capture = load_capture(tmp_path)
    assert capture.layout == "colmap" and len(capture.views) == 100
    for original, view in zip(cameras, capture.views):
        c = view.camera
        assert (c.width, c.height) == (800, 800)
        np.testing.assert_allclose([c.fx, c.fy, c.cx, c.cy], [original.fx, original.fy, original.cx, original.cy],
                                   atol=1e-6)
        # COLMAP has no fixed up: the loader turns the estimated up onto +Y.
        np.testing.assert_allclose(np.linalg.inv(capture.world_from_capture) @ c.c2w, original.c2w, atol=1e-6)
        assert c.distortion.is_identity
    np.testing.assert_allclose(read_points(tmp_path / "sparse" / "0" / f"points3D.{'bin' if binary else 'txt'}"),
                               points, atol=1e-12)
    # The sphere comes from the rig and the sparse points, and still holds the object's centre.
    centre, radius = capture.bounding_sphere()
    assert np.linalg.norm(centre) < 1e-3
    assert radius == pytest.approx(np.quantile(np.linalg.norm(points - centre, axis=1), 0.98), rel=1e-6)
    # COLMAP worlds have no fixed up: it is estimated from the cameras (lego
    # was turned +Y up when loaded above) and turned onto +Y.
    assert capture.up @ np.array([0, 1.0, 0]) > 0.9
    np.testing.assert_allclose(capture.world_from_capture[:3, :3] @ capture.up, [0, 1, 0], atol=1e-12)


def test_quaternion_round_trip() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        r = qvec_to_rotation(q)
        np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(qvec_to_rotation(rotation_to_qvec(r)), r, atol=1e-12)
        np.testing.assert_allclose(rotation_to_qvec(r), q * np.sign(q[0]), atol=1e-12)


def write_text_model(root: Path, cameras: str, images: str, size: tuple[int, int] = (40, 30)) -> Path:
    sparse = root / "sparse"
    sparse.mkdir(parents=True, exist_ok=True)
    (sparse / "cameras.txt").write_text(cameras)
    (sparse / "images.txt").write_text(images)
    png(root / "images" / "a.png", *size)
    return sparse


IMAGE_LINE = "# comment\n1 1 0 0 0 0 0 4 1 a.png\n\n"


@pytest.mark.parametrize(
    "line, fx, fy, distortion",
    [
        ("1 SIMPLE_PINHOLE 40 30 35 20 15", 35, 35, Distortion()),
        ("1 PINHOLE 40 30 35 36 20 15", 35, 36, Distortion()),
        ("1 SIMPLE_RADIAL 40 30 35 20 15 0.1", 35, 35, Distortion("opencv", 0.1)),
        ("1 RADIAL 40 30 35 20 15 0.1 -0.02", 35, 35, Distortion("opencv", 0.1, -0.02)),
        ("1 OPENCV 40 30 35 36 20 15 0.1 -0.02 0.001 0.002", 35, 36, Distortion("opencv", 0.1, -0.02, p1=0.001, p2=0.002)),
        ("1 OPENCV_FISHEYE 40 30 35 36 20 15 0.1 -0.02 0.003 0.004", 35, 36, Distortion("fisheye", 0.1, -0.02, 0.003, 0.004)),
    ],
)
def test_camera_models(tmp_path: Path, line: str, fx: float, fy: float, distortion: Distortion) -> None:
    # sparse/ directly (no /0) is accepted too
    write_text_model(tmp_path, line + "\n", IMAGE_LINE)
    capture = load_capture(tmp_path, undistort=False)
    c = capture.views[0].source_camera
    # in the file's world (the loader turns the estimated up, here -Y, onto +Y)
    c = replace(c, c2w=np.linalg.inv(capture.world_from_capture) @ c.c2w)
    assert (c.width, c.height, c.fx, c.fy, c.cx, c.cy) == (40, 30, fx, fy, 20, 15)
    assert c.distortion == distortion
    # identity rotation, t = (0, 0, 4): the camera sits at z = -4 looking down +z (OpenCV) = -z_gl axis flipped
    np.testing.assert_allclose(c.position, [0, 0, -4])
    np.testing.assert_allclose(c.forward, [0, 0, 1])
    assert capture.views[0].name == "a.png"


@pytest.mark.parametrize(
    "cameras, images, where, words",
    [
        ("1 FOV 40 30 35 20 15 0.1\n", IMAGE_LINE, "cameras.txt", "FOV is not supported"),
        ("1 FISHY 40 30 35 20 15\n", IMAGE_LINE, "cameras.txt", "unknown camera model"),
        ("# c\n\n1 PINHOLE 40 30 35 20 15\n", IMAGE_LINE, "cameras.txt", "line 3: PINHOLE takes 4"),
        ("1 PINHOLE 40 x 35 35 20 15\n", IMAGE_LINE, "cameras.txt", "line 1: WIDTH/HEIGHT"),
        ("1 PINHOLE 40 30 nan 35 20 15\n", IMAGE_LINE, "cameras.txt", "NaN"),
        ("1 PINHOLE 40 30 -35 35 20 15\n", IMAGE_LINE, "cameras.txt", "focal"),
        ("1 PINHOLE 40 30 35 35 20 15\n", "1 1 0 0 0 0 0 4 2 a.png\n\n", "sparse", "camera 2"),
        ("1 PINHOLE 40 30 35 35 20 15\n", "\n# x\n1 0 0 0 0 0 0 4 1 a.png\n\n", "images.txt", "line 3: quaternion"),
        ("1 PINHOLE 40 30 35 35 20 15\n", "1 1 0 0 0 0 0 4 1\n", "images.txt", "line 1: expected"),
        ("1 PINHOLE 40 30 35 35 20 15\n", "1 1 0 0 0 0 0 inf 1 a.png\n", "images.txt", "NaN or infinite"),
        ("1 PINHOLE 40 30 35 35 20 15\n", "1 1 0 0 0 0 0 4 1 ../../a.png\n", "sparse", "refused"),
        ("1 PINHOLE 40 30 35 35 20 15\n", "1 1 0 0 0 0 0 4 1 b.png\n", "b.png", "not found"),
        ("1 PINHOLE 40 20 35 35 20 15\n", IMAGE_LINE, "a.png", "40x30"),
        ("1 PINHOLE 40 30 35 35 20 15\n", "# only comments\n", "sparse", "no images"),
    ],
)
def test_bad_colmap_text(tmp_path: Path, cameras: str, images: str, where: str, words: str) -> None:
    write_text_model(tmp_path, cameras, images)
    with pytest.raises(CaptureError) as info:
        load_capture(tmp_path)
    assert info.value.path.name == where and words in info.value.problem


def small_model() -> ColmapModel:
    cam = Camera(40, 30, 35.0, 35.0, 20.0, 15.0, np.eye(4), Distortion("opencv", 0.1, 0.01, p1=0.001))
    return from_cameras([cam], ["a.png"])


def test_binary_truncation_and_absurd_counts(tmp_path: Path) -> None:
    sparse = tmp_path / "sparse" / "0"
    write_model(sparse, small_model(), binary=True)
    png(tmp_path / "images" / "a.png", 40, 30)
    assert load_capture(tmp_path).views[0].source_camera.distortion.k1 == 0.1
    data = (sparse / "images.bin").read_bytes()
    for broken, words in [(data[:-3], "truncated"), (struct.pack("<Q", 2**62) + data[8:], "cannot fit")]:
        (sparse / "images.bin").write_bytes(broken)
        with pytest.raises(CaptureError) as info:
            load_capture(tmp_path)
        assert info.value.path.name == "images.bin" and words in info.value.problem
    (sparse / "images.bin").write_bytes(data)
    cams = bytearray((sparse / "cameras.bin").read_bytes())
    cams[12:16] = struct.pack("<i", 99)  # model id
    (sparse / "cameras.bin").write_bytes(bytes(cams))
    with pytest.raises(CaptureError, match="unknown camera model id 99"):
        load_capture(tmp_path)


def test_text_and_binary_models_agree(tmp_path: Path) -> None:
    write_model(tmp_path / "a", small_model(), binary=False)
    write_model(tmp_path / "b", small_model(), binary=True)
    assert read_model(tmp_path / "a") == read_model(tmp_path / "b")


# ------------------------------------------------------------------ property-based

VALID_CAMERAS = "# Camera list\n1 OPENCV 40 30 35 36 20 15 0.1 -0.02 0.001 0.002\n2 PINHOLE 40 30 35 35 20 15\n"
VALID_IMAGES = "# Image list\n1 1 0 0 0 0 0 4 1 a.png\n0.5 0.5 -1\n2 0.7071067811865476 0.7071067811865476 0 0 1 2 3 2 a.png\n\n"
TOKENS = ["1", "2", "0", "-1", "1e308", "nan", "inf", "PINHOLE", "OPENCV", "FOV", "a.png", "../x", "#", "", " ",
          "\n", "0.5", "40", "30", "99999999999999999999999", "x"]


@pytest.fixture(scope="module")
def scratch() -> Path:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_text_model(root, VALID_CAMERAS, VALID_IMAGES)
        yield root


def mutate(data, text: str) -> str:
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 6))
        text = text[:i] + data.draw(st.sampled_from(TOKENS)) + text[i + cut:]
    return text


def load_or_capture_error(root: Path) -> None:
    try:
        load_capture(root).bounding_sphere()  # what `info` does
    except CaptureError as exc:
        assert exc.problem


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_colmap_text_never_crashes(scratch: Path, data) -> None:
    (scratch / "sparse" / "cameras.txt").write_text(mutate(data, VALID_CAMERAS))
    (scratch / "sparse" / "images.txt").write_text(mutate(data, VALID_IMAGES))
    load_or_capture_error(scratch)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.lists(st.sampled_from(TOKENS), max_size=12).map(" ".join), max_size=6))
def test_random_colmap_lines_never_crash(scratch: Path, lines: list[str]) -> None:
    (scratch / "sparse" / "cameras.txt").write_text(VALID_CAMERAS)
    (scratch / "sparse" / "images.txt").write_text("\n".join(lines))
    load_or_capture_error(scratch)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_mutated_colmap_binary_never_crashes(data) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        sparse = root / "sparse" / "0"
        write_model(sparse, small_model(), np.zeros((2, 3)), binary=True)
        png(root / "images" / "a.png", 40, 30)
        name = data.draw(st.sampled_from(["cameras.bin", "images.bin", "points3D.bin"]))
        raw = bytearray((sparse / name).read_bytes())
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, max(len(raw) - 1, 0)))
            raw[i : i + 1] = data.draw(st.binary(min_size=0, max_size=3))
        (sparse / name).write_bytes(bytes(raw))
        load_or_capture_error(root)
