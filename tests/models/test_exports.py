"""Export maths and the export job (headless, with a stand-in renderer),
and per-photo error scores."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest

from models.camera import Camera
from models.exports import (
    ExportError,
    ExportRequest,
    camera_at_resolution,
    run_export,
    turntable_cameras,
    video_writer,
)
from models.imageio import load_image
from models.lighting import Lighting
from models.material import MaterialMaps
from models.mesh import Mesh
from models.scene import Scene
from models.view_errors import (
    ViewError,
    compare,
    display_pair,
    outliers,
    score_views,
    worst_first,
)


def camera() -> Camera:
    return Camera.look_at(np.array([0.0, 1.0, 4.0]), np.array([0.0, 0.5, 0.0]), np.array([0.0, 1.0, 0.0]), 400, 300, math.radians(50))


def scene() -> Scene:
    mesh = Mesh.from_arrays(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32), np.array([[0, 1, 2]], np.int32))
    return Scene(mesh, MaterialMaps.constant(4), Lighting())


def fake_render(seen: list):
    def render(scene: Scene, cam: Camera, linear: bool) -> np.ndarray:
        seen.append((scene.display.background, cam, linear))
        img = np.zeros((cam.height, cam.width, 4), np.float32)
        img[cam.height // 4 : -cam.height // 4, cam.width // 4 : -cam.width // 4] = (0.8 if not linear else 3.0, 0.4, 0.2, 1.0)
        return img

    return render


def test_camera_at_resolution_keeps_pose_and_vertical_fov() -> None:
    cam = camera()
    out = camera_at_resolution(cam, 160, 90)
    assert (out.width, out.height) == (160, 90) and out.fov_y == pytest.approx(cam.fov_y)
    assert out.fx == out.fy and (out.cx, out.cy) == (80.0, 45.0)
    np.testing.assert_array_equal(out.c2w, cam.c2w)


def test_turntable_orbits_the_centre() -> None:
    cam = camera()
    center = np.array([0.0, 0.5, 0.0])
    cams = turntable_cameras(cam, center, (0, 1, 0), 4)
    assert len(cams) == 4
    np.testing.assert_allclose(cams[0].c2w, cam.c2w, atol=1e-12)
    p = [c.position - center for c in cams]
    assert all(np.linalg.norm(x) == pytest.approx(np.linalg.norm(p[0])) for x in p)
    np.testing.assert_allclose(p[1], [p[0][2], p[0][1], -p[0][0]], atol=1e-9)  # a quarter turn about +Y
    for c in cams:  # every frame still looks at the centre
        to_centre = (center - c.position) / np.linalg.norm(center - c.position)
        assert to_centre @ c.forward > 0.99


def test_run_export_writes_files_and_cancels(tmp_path: Path) -> None:
    seen: list = []
    request = ExportRequest("view", tmp_path / "a", cameras=(camera(),), width=64, height=48, png=True, exr=True)
    files = run_export(request, scene(), render=fake_render(seen))
    assert [p.name for p in files] == ["render.png", "render.exr"]
    png = load_image(files[0])
    assert png.shape == (48, 64, 4) and png[..., 3].min() == 0 and png[..., 3].max() == 1
    assert load_image(files[1])[24, 32, 0] == pytest.approx(3.0, rel=1e-3)  # linear, not clipped
    assert seen[0][0] == "transparent" and seen[0][1].width == 64 and [s[2] for s in seen] == [False, True]
    progress = []
    cams = tuple(camera() for _ in range(3))
    files = run_export(ExportRequest("captures", tmp_path / "b", cameras=cams, names=("a.png", "a.png", "c.jpg"), scale=0.1),
                       scene(), progress=lambda d, t, m: progress.append((d, t)), render=fake_render([]))
    assert [p.name for p in files] == ["000_a.png", "001_a.png", "002_c.png"]
    assert progress[-1] == (3, 3) and load_image(files[0]).shape == (30, 40, 4)
    cancel = threading.Event()

    def cancelling(scene, cam, linear):
        cancel.set()
        return fake_render([])(scene, cam, linear)

    files = run_export(ExportRequest("turntable", tmp_path / "c", cameras=(camera(),), width=32, height=24, frames=50),
                       scene(), cancel=cancel, render=cancelling)
    assert len(files) == 1


def test_bad_requests_and_video_writer(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="at least one format"):
        run_export(ExportRequest("view", tmp_path, cameras=(camera(),), png=False), scene())
    with pytest.raises(ExportError, match="no camera"):
        run_export(ExportRequest("turntable", tmp_path), scene())
    name, why = video_writer()
    assert (name is None) == bool(why)
    if name is None:
        assert "imageio-ffmpeg" in why


def test_compare_scores_and_ranks() -> None:
    photo = np.full((8, 8, 3), 0.5, np.float32)
    render = np.concatenate([photo, np.ones((8, 8, 1), np.float32)], -1)
    psnr, mae, n = compare(render, photo)
    assert psnr == math.inf and mae == 0 and n == 64
    off = render.copy()
    off[..., :3] = 0.6
    mask = np.zeros((8, 8), np.float32)
    mask[:4] = 1
    psnr, mae, n = compare(off, photo, mask)
    assert n == 32 and mae > 0 and 10 < psnr < 40
    assert compare(np.zeros((8, 8, 4), np.float32), photo)[2] == 0

    class V:
        def __init__(self, name, value):
            self.name, self.camera, self.mask = name, None, None
            self.image = np.full((4, 4, 3), value, np.float32)

    views = [V("good", 0.5), V("bad", 0.9), V("ok", 0.52), V("fine", 0.51)]
    errors = score_views(scene(), views, render=lambda cam: np.concatenate([np.full((4, 4, 3), 0.5, np.float32), np.ones((4, 4, 1), np.float32)], -1))
    assert [e.name for e in worst_first(errors)][:2] == ["bad", "ok"]
    assert outliers(errors) == {1}
    assert outliers([ViewError(0, "a", 20.0, 0.1, 5)]) == set()
    p8, r8 = display_pair(render, photo, None)
    assert p8.shape == r8.shape == (8, 8, 3) and p8.dtype == np.uint8 and np.array_equal(p8, r8)
