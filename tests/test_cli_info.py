"""`relit info`: what it prints for the real captures, one-line errors for
bad ones, and that it is fast (no pixels decoded)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

import main

REPO = Path(__file__).resolve().parents[1]


def info(capsys, *args: str) -> tuple[int, str, str]:
    code = main.main(["info", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def fields(text: str) -> dict[str, str]:
    return {line.split()[0]: line.split(None, 1)[1].strip() for line in text.splitlines() if line.strip()}


def test_info_on_lego(shared_data: Path, capsys) -> None:
    code, out, err = info(capsys, shared_data / "captures" / "lego")
    assert code == 0 and err == ""
    f = fields(out)
    assert f["layout"] == "nerf-synthetic"
    assert f["views"] == "100 (train 100)"
    assert f["resolution"] == "800x800"
    assert f["intrinsics"].startswith("fx 1111.11 fy 1111.11 cx 400 cy 400")
    assert f["distortion"] == "none"
    assert f["masks"] == "alpha channel (100 views)"
    assert f["mesh"] == "none" and f["aabb_scale"] == "none"
    assert "radius 1.365" in f["bounds"] and "camera rig" in f["bounds"]


def test_info_on_fox_downscaled(shared_data: Path, capsys) -> None:
    code, out, _ = info(capsys, shared_data / "captures" / "fox", "--downscale", "2")
    f = fields(out)
    assert code == 0 and f["layout"] == "instant-ngp"
    assert f["views"] == "67 (train 67)"
    assert f["resolution"] == "540x960  (downscaled 1/2)"
    assert f["intrinsics"].startswith("fx 687.76 fy 687.245 cx 277.279 cy 482.634")
    assert f["distortion"].startswith("opencv k1 0.0578421 k2 -0.0805099 p1 -0.000980296 p2 0.00015575")
    assert "undistorted" in f["distortion"]
    assert f["masks"] == "none (67 views)" and f["aabb_scale"] == "4"


def test_info_reports_a_mesh_and_per_view_listing(tmp_path: Path, capsys) -> None:
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "transforms.json").write_text(json.dumps(
        {"fl_x": 8, "frames": [{"file_path": "a.png", "transform_matrix": np.eye(4).tolist()}]}))
    trimesh.creation.icosphere(subdivisions=1).export(tmp_path / "object.obj")
    code, out, _ = info(capsys, tmp_path, "--views")
    f = fields(out)
    assert code == 0
    assert f["mesh"].endswith("object.obj (42 vertices, 80 faces)")
    assert "centre (0, 0, 0), radius 1" in f["bounds"] and "from the mesh" in f["bounds"]
    assert out.rstrip().splitlines()[-1].split() == ["train", "a.png", "8x8", "mask:", "none"]


@pytest.mark.parametrize(
    "setup, words",
    [
        (lambda root: None, "no recognisable capture layout"),
        (lambda root: (root / "transforms.json").write_text('{"frames": [\n}'), "line 2"),
        (lambda root: (root / "transforms.json").write_text('{"fl_x": 8, "frames": []}'), "empty"),
        (lambda root: (root / "transforms.json").write_text(
            '{"fl_x": 8, "frames": [{"file_path": "../x.png", "transform_matrix": []}]}'), "refused"),
    ],
)
def test_bad_captures_print_one_line(tmp_path: Path, capsys, setup, words: str) -> None:
    setup(tmp_path)
    code, out, err = info(capsys, tmp_path)
    assert code == 2 and out == ""
    assert err.startswith("relit info: error: ") and words in err
    assert len(err.strip().splitlines()) == 1


def test_info_is_fast_as_a_process(shared_data: Path) -> None:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "info", str(shared_data / "captures" / "fox")],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert "instant-ngp" in result.stdout
    assert elapsed < 5.0
