"""Bad capture folders: every problem is a CaptureError that names the file
and says what is wrong; nothing else escapes, nothing hangs."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from models.camera import Camera
from models.capture import load_capture
from models.errors import CaptureError

POSE = Camera.look_at(np.array([3.0, 0.0, 1.0]), np.zeros(3), np.array([0.0, 0.0, 1.0]), 8, 8, 1.0).c2w.tolist()

# A numpy overflow or invalid-value warning would mean a bad input slipped past the checks.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def png(path: Path, width: int = 8, height: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((height, width, 3), 90, np.uint8)).save(path)


def ngp(root: Path, frames: list[dict], **extra) -> Path:
    doc = {"fl_x": 8.0, **extra, "frames": frames}
    (root / "transforms.json").write_text(json.dumps(doc, indent=2))
    return root / "transforms.json"


def error_of(path: Path, **kwargs) -> CaptureError:
    with pytest.raises(CaptureError) as info:
        load_capture(path, **kwargs)
    return info.value


def test_missing_image_names_it(tmp_path: Path) -> None:
    ngp(tmp_path, [{"file_path": "images/nope.png", "transform_matrix": POSE}])
    err = error_of(tmp_path)
    assert err.path == tmp_path / "images" / "nope.png" and "not found" in err.problem


def test_extensionless_missing_image_lists_tried_extensions(tmp_path: Path) -> None:
    (tmp_path / "transforms_train.json").write_text(json.dumps(
        {"camera_angle_x": 0.7, "frames": [{"file_path": "./train/r_0", "transform_matrix": POSE}]}))
    err = error_of(tmp_path)
    assert err.path.name == "r_0" and ".png" in err.problem


def test_corrupt_image_header_is_caught_at_load(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    ngp(tmp_path, [{"file_path": "a.png", "transform_matrix": POSE}])
    err = error_of(tmp_path)
    assert err.path == tmp_path / "a.png"


def test_truncated_pixels_are_a_capture_error_when_decoded(tmp_path: Path) -> None:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "a.png").write_bytes(data[: len(data) // 2])
    ngp(tmp_path, [{"file_path": "a.png", "transform_matrix": POSE}])
    view = load_capture(tmp_path).views[0]  # the header is intact: loading is cheap and succeeds
    with pytest.raises(CaptureError) as info:
        view.load_image()
    assert info.value.path == tmp_path / "a.png"


def test_mixed_sizes_without_per_frame_intrinsics(tmp_path: Path) -> None:
    png(tmp_path / "a.png", 8, 8)
    png(tmp_path / "b.png", 16, 8)
    ngp(tmp_path, [{"file_path": "a.png", "transform_matrix": POSE}, {"file_path": "b.png", "transform_matrix": POSE}])
    err = error_of(tmp_path)
    assert err.path.name == "transforms.json" and "mixed sizes" in err.problem and "b.png" in err.problem


def test_size_disagreeing_with_w_h(tmp_path: Path) -> None:
    png(tmp_path / "a.png", 8, 8)
    ngp(tmp_path, [{"file_path": "a.png", "transform_matrix": POSE}], w=10, h=8)
    assert "8x8" in error_of(tmp_path).problem


@pytest.mark.parametrize(
    "matrix, words",
    [
        (np.zeros((3, 4)).tolist(), "not orthonormal"),
        (np.zeros((4, 4)).tolist(), "last row"),
        ((np.array(POSE) * [[2], [2], [2], [1]]).tolist(), "not orthonormal"),
        ((np.array(POSE) @ np.diag([1, 1, -1, 1])).tolist(), "reflection"),
        ([[math.nan] * 4] * 4, "NaN"),
        ([[1, 0, 0], [0, 1, 0]], "shape"),
        ("identity", "matrix"),
        (None, "matrix"),
        ([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]], "last row"),
    ],
)
def test_degenerate_poses(tmp_path: Path, matrix, words: str) -> None:
    png(tmp_path / "a.png")
    ngp(tmp_path, [{"file_path": "a.png", "transform_matrix": matrix}])
    err = error_of(tmp_path)
    assert err.path.name == "transforms.json" and "frame 0" in err.problem and words in err.problem


def test_malformed_json_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "transforms.json").write_text('{\n  "fl_x": 8,\n  "frames": [\n    {"file_path": "a.png",,}\n  ]\n}\n')
    err = error_of(tmp_path)
    assert err.path.name == "transforms.json" and "line 4" in err.problem


def test_deeply_nested_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "transforms.json").write_text("[" * 100000 + "]" * 100000)
    assert "JSON" in error_of(tmp_path).problem


@pytest.mark.parametrize("model", ["EQUIRECTANGULAR", "FOV", 7])
def test_unknown_camera_model(tmp_path: Path, model) -> None:
    png(tmp_path / "a.png")
    ngp(tmp_path, [{"file_path": "a.png", "transform_matrix": POSE}], camera_model=model)
    assert "camera_model" in error_of(tmp_path).problem


def test_empty_frame_list(tmp_path: Path) -> None:
    ngp(tmp_path, [])
    assert "empty" in error_of(tmp_path).problem


def test_empty_nerf_synthetic_split(tmp_path: Path) -> None:
    (tmp_path / "transforms_train.json").write_text(json.dumps({"camera_angle_x": 0.7, "frames": []}))
    err = error_of(tmp_path)
    assert err.path.name == "transforms_train.json" and "empty" in err.problem


def test_no_focal_length(tmp_path: Path) -> None:
    png(tmp_path / "a.png")
    (tmp_path / "transforms.json").write_text(json.dumps({"frames": [{"file_path": "a.png", "transform_matrix": POSE}]}))
    assert "focal" in error_of(tmp_path).problem


def test_no_recognisable_layout(tmp_path: Path) -> None:
    png(tmp_path / "photo.png")
    err = error_of(tmp_path)
    assert err.path == tmp_path and "layout" in err.problem


def test_missing_folder_and_bad_downscale(tmp_path: Path) -> None:
    assert "does not exist" in error_of(tmp_path / "nope").problem
    assert "downscale" in error_of(tmp_path, downscale=0).problem
    assert "downscale" in error_of(tmp_path, downscale=1.5).problem


def test_mask_of_the_wrong_size(tmp_path: Path) -> None:
    png(tmp_path / "a.png", 8, 8)
    png(tmp_path / "masks" / "a.png", 4, 4)
    ngp(tmp_path, [{"file_path": "a.png", "transform_matrix": POSE}])
    err = error_of(tmp_path)
    assert err.path == tmp_path / "masks" / "a.png" and "4x4" in err.problem


def test_nerfstudio_mask_path_escaping_is_refused(tmp_path: Path) -> None:
    png(tmp_path / "a.png")
    ngp(tmp_path, [{"file_path": "a.png", "mask_path": "../m.png", "transform_matrix": POSE}])
    assert "refused" in error_of(tmp_path).problem


# ------------------------------------------------------------------ property-based

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=25,
)
KEYS = ["frames", "file_path", "transform_matrix", "fl_x", "fl_y", "cx", "cy", "w", "h", "k1", "k4", "p1",
        "camera_angle_x", "camera_model", "mask_path", "aabb_scale", "applied_transform", "scale", "offset",
        "train_filenames", "is_fisheye", "ply_file_path"]


@pytest.fixture(scope="module")
def scratch() -> Path:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        png(root / "a.png", 8, 8)
        png(root / "b.png", 6, 4)
        yield root


def valid_doc() -> dict:
    return {"fl_x": 8.0, "cx": 4, "k1": 0.01, "aabb_scale": 4,
            "frames": [{"file_path": "a.png", "transform_matrix": POSE},
                       {"file_path": "a.png", "transform_matrix": POSE, "fl_x": 7.0}]}


def load_or_capture_error(root: Path) -> None:
    try:
        load_capture(root).bounding_sphere()  # what `info` does
    except CaptureError as exc:
        assert exc.problem


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=json_values)
def test_random_json_is_a_capture_error(scratch: Path, doc) -> None:
    (scratch / "transforms.json").write_text(json.dumps(doc))
    load_or_capture_error(scratch)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_valid_transforms_never_crash(scratch: Path, data) -> None:
    doc = valid_doc()
    for _ in range(data.draw(st.integers(1, 3))):
        frames = doc.get("frames")
        frames = [f for f in frames if isinstance(f, dict)] if isinstance(frames, list) else []
        target = data.draw(st.sampled_from([doc] + frames))
        key = data.draw(st.sampled_from(KEYS))
        if data.draw(st.booleans()) and key in target:
            del target[key]
        else:
            target[key] = data.draw(json_values)
    (scratch / "transforms.json").write_text(json.dumps(doc))
    load_or_capture_error(scratch)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_transforms_text_never_crashes(scratch: Path, data) -> None:
    text = json.dumps(valid_doc(), indent=1).encode()
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 8))
        text = text[:i] + data.draw(st.binary(max_size=4)) + text[i + cut:]
    (scratch / "transforms.json").write_bytes(text)
    load_or_capture_error(scratch)
