"""End to end: `main.py fit` (2 steps) and `main.py render` on the bundled
sample capture, and the one-line errors of malformed inputs (exit code 2)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

import main
from models.scene_io import load_scene

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "resources" / "sample_capture"
STUDIO = REPO / "resources" / "hdri" / "studio.hdr"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small_cameras(path: Path, count: int = 2, size: int = 48) -> Path:
    """The first frames of the sample's transforms at a small size."""
    doc = json.loads((SAMPLE / "transforms.json").read_text())
    scale = size / doc["w"]
    small = {
        "fl_x": doc["fl_x"] * scale, "fl_y": doc["fl_y"] * scale, "cx": doc["cx"] * scale, "cy": doc["cy"] * scale,
        "w": size, "h": size,
        "frames": [dict(f, file_path=f"test/view_{k}") for k, f in enumerate(doc["frames"][:count])],
    }
    path.write_text(json.dumps(small))
    return path


@pytest.fixture(scope="module")
def fitted_scene(tmp_path_factory, one_thread) -> Path:
    out = tmp_path_factory.mktemp("fit") / "scene"
    code = main.main(["fit", str(SAMPLE), "--out", str(out), "--device", "cpu", "--iters", "2",
                      "--texture-res", "64", "--downscale", "4", "--max-views", "6", "--quiet"])
    assert code == 0
    return out


def test_fit_writes_a_scene_that_reopens(fitted_scene: Path) -> None:
    for name in ("scene.glb", "environment.hdr", "scene.json"):
        assert (fitted_scene / name).is_file(), name
    doc = json.loads((fitted_scene / "scene.json").read_text())
    fit = doc["metadata"]["fit"]
    assert fit["steps"] == 2 and fit["state"] == "finished" and "l1" in fit["losses"]
    assert fit["config"]["texture_resolution"] == 64 and fit["timings"]["fit_s"] >= 0
    starts = fit["metallic_starts"]  # one step from each starting metallic, the better one kept
    assert starts["starts"] == [0.6, 0.45] and len(starts["validation_losses"]) == 2 and starts["kept"] in (0.6, 0.45)
    assert {"torch", "numpy", "python", "relit"} <= set(doc["metadata"]["versions"])
    import trimesh

    loaded = trimesh.load(fitted_scene / "scene.glb", force="scene")
    assert sum(len(g.faces) for g in loaded.geometry.values()) > 1000
    scene = load_scene(fitted_scene)
    assert scene.material.albedo.shape == (64, 64, 3)
    assert scene.lighting.environment.name == "recovered"


def test_render_writes_rgba_images_named_after_frames(fitted_scene: Path, tmp_path: Path) -> None:
    cameras = small_cameras(tmp_path / "cams.json")
    out = tmp_path / "renders"
    code = main.main(["render", str(fitted_scene), "--cameras", str(cameras), "--hdri", str(STUDIO),
                      "--rotation", "45", "--exposure", "0.5", "--out", str(out), "--engine", "torch"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["view_0.png", "view_1.png"]
    with Image.open(out / "view_0.png") as im:
        assert im.mode == "RGBA" and im.size == (48, 48)
        rgba = np.asarray(im)
    alpha = rgba[..., 3]
    assert alpha.max() == 255 and alpha.min() == 0  # the object, and transparent background
    assert rgba[alpha == 255, :3].mean() > 5  # lit, not black
    assert ((alpha > 0) & (alpha < 255)).any()  # anti-aliased silhouette by default
    hard = tmp_path / "hard"
    assert main.main(["render", str(fitted_scene), "--cameras", str(cameras), "--out", str(hard),
                      "--engine", "torch", "--supersample", "1"]) == 0
    with Image.open(hard / "view_0.png") as im:
        assert set(np.unique(np.asarray(im)[..., 3])) == {0, 255}

    exr = tmp_path / "exr"
    assert main.main(["render", str(fitted_scene), "--cameras", str(cameras), "--out", str(exr),
                      "--format", "exr", "--engine", "torch"]) == 0
    from models.imageio import load_image

    linear = load_image(exr / "view_1.exr")
    assert linear.shape == (48, 48, 4) and np.isfinite(linear).all() and linear[..., 3].max() == 1.0


def one_line_error(capsys, argv: list[str]) -> str:
    code = main.main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err and "\n" not in err and "Traceback" not in err
    return err


def test_fit_metallic_starts_flag(tmp_path: Path, capsys) -> None:
    from app.cli.fit import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = config_from_args(parser.parse_args(["cap", "--out", "o", "--metallic-starts", "0.5"]))
    assert config.metallic_starts == (0.5,)  # one value: a single fit
    config = config_from_args(parser.parse_args(["cap", "--out", "o", "--metallic-starts", "0.7,0.4,0.2"]))
    assert config.initial_metallic == 0.7 and config.metallic_trials == (0.4, 0.2)
    out = str(tmp_path / "out")
    err = one_line_error(capsys, ["fit", str(SAMPLE), "--out", out, "--metallic-starts", "0.6,lots"])
    assert "--metallic-starts" in err and "numbers" in err
    assert "(0, 1)" in one_line_error(capsys, ["fit", str(SAMPLE), "--out", out, "--metallic-starts", "1.2"])


def test_render_errors_are_one_line(fitted_scene: Path, tmp_path: Path, capsys) -> None:
    cameras = small_cameras(tmp_path / "cams.json")
    out = str(tmp_path / "out")
    err = one_line_error(capsys, ["render", str(fitted_scene), "--cameras", str(cameras), "--hdri",
                                  str(tmp_path / "missing.hdr"), "--out", out, "--engine", "torch"])
    assert "missing.hdr" in err and "not found" in err

    bad = tmp_path / "bad.json"
    bad.write_text('{"frames": [ {"transform_matrix": [1, 2]} ')
    assert "not valid JSON" in one_line_error(capsys, ["render", str(fitted_scene), "--cameras", str(bad), "--out", out])

    bad.write_text(json.dumps({"w": 8, "h": 8, "fl_x": 8, "frames": [{"transform_matrix": [[1, 0], [0, 1]]}]}))
    assert "transform_matrix" in one_line_error(capsys, ["render", str(fitted_scene), "--cameras", str(bad), "--out", out])

    bad.write_text(json.dumps({"camera": 1}))
    assert "frames" in one_line_error(capsys, ["render", str(fitted_scene), "--cameras", str(bad), "--out", out])

    assert "not found" in one_line_error(
        capsys, ["render", str(fitted_scene), "--cameras", str(tmp_path / "nope.json"), "--out", out])
    assert "scene" in one_line_error(
        capsys, ["render", str(tmp_path / "no_scene"), "--cameras", str(cameras), "--out", out]).lower()


def test_fit_without_mesh_reconstructs_it(tmp_path: Path, capsys) -> None:
    """A capture of photos and poses only: `fit` recovers the geometry from
    the masks and photos first, then fits materials on it (issue 6)."""
    capture = tmp_path / "capture"
    (capture / "images").mkdir(parents=True)
    doc = json.loads((SAMPLE / "transforms.json").read_text())
    doc["frames"] = doc["frames"][::3]
    for frame in doc["frames"]:
        (capture / frame["file_path"]).write_bytes((SAMPLE / frame["file_path"]).read_bytes())
    (capture / "transforms.json").write_text(json.dumps(doc))
    out = tmp_path / "s"
    code = main.main(["fit", str(capture), "--out", str(out), "--iters", "2", "--quiet", "--reconstruction", "fast"])
    assert code == 0, capsys.readouterr().err
    mesh = trimesh.load(out / "scene.glb", force="mesh")
    reference = trimesh.load(SAMPLE / "mesh.obj", force="mesh")
    assert len(mesh.faces) > 100
    # a preview mesh is baked as it is, not subdivided first (fit_config_for_geometry)
    assert json.loads((out / "scene.json").read_text())["metadata"]["fit"]["config"]["ao_max_edge"] == 0.0
    # the recovered object spans the real one across and at the top; below
    # the base (never photographed from underneath) it is left uncarved
    (lo, hi), (ref_lo, ref_hi) = mesh.bounds, reference.bounds
    np.testing.assert_allclose(mesh.extents[[0, 2]], reference.extents[[0, 2]], rtol=0.15)
    assert abs(hi[1] - ref_hi[1]) < 0.15 * reference.extents[1], (hi, ref_hi)
    assert lo[1] <= ref_lo[1] + 0.05


def test_ctrl_c_stops_the_fit_and_keeps_its_state(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    # Three of the sample's photos around a plain sphere: a convex mesh needs
    # no specular visibility bake, so the fit starts in seconds.
    capture = tmp_path / "capture"
    (capture / "images").mkdir(parents=True)
    doc = json.loads((SAMPLE / "transforms.json").read_text())
    doc["frames"] = doc["frames"][:3]
    for frame in doc["frames"]:
        (capture / frame["file_path"]).write_bytes((SAMPLE / frame["file_path"]).read_bytes())
    (capture / "transforms.json").write_text(json.dumps(doc))
    trimesh.creation.icosphere(3, radius=0.5).export(capture / "mesh.obj")
    out = tmp_path / "scene"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "main.py"), "fit", str(capture), "--out", str(out), "--device", "cpu",
         "--iters", "1000000", "--texture-res", "32", "--downscale", "8", "--max-views", "3", "--threads", "1"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, cwd=REPO, env=env,
    )
    seen = b""
    deadline = time.monotonic() + 60
    while b"step" not in seen and time.monotonic() < deadline:  # the progress bar is up: the fit runs
        chunk = proc.stderr.read1(256) if hasattr(proc.stderr, "read1") else proc.stderr.read(1)
        if not chunk:
            break
        seen += chunk
    assert b"step" in seen, seen.decode(errors="replace")
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 0, (seen + rest).decode(errors="replace")
    doc = json.loads((out / "scene.json").read_text())
    assert doc["metadata"]["fit"]["state"] == "cancelled"
    assert 0 < doc["metadata"]["fit"]["steps"] < 1000000


def test_render_cameras_share_the_capture_loaders_world(tmp_path: Path) -> None:
    """A transforms file without "up" is +Z up (NeRF/instant-ngp): `render`
    turns its cameras into Relit's +Y-up world exactly as the capture loader
    does, so a scene fitted from that capture is seen from the same place."""
    from app.cli.render import read_cameras
    from models.capture import load_capture

    doc = json.loads((SAMPLE / "transforms.json").read_text())
    doc.pop("up", None)
    doc["frames"] = doc["frames"][:3]
    (tmp_path / "images").mkdir()
    for frame in doc["frames"]:
        (tmp_path / frame["file_path"]).write_bytes((SAMPLE / frame["file_path"]).read_bytes())
    (tmp_path / "transforms.json").write_text(json.dumps(doc))
    capture = load_capture(tmp_path)
    assert not np.allclose(capture.world_from_capture, np.eye(4))
    cameras = read_cameras(tmp_path / "transforms.json")
    for (_, camera), view in zip(cameras, capture.views):
        np.testing.assert_allclose(camera.c2w, view.camera.c2w, atol=1e-6)  # the loader also snaps to rigid
