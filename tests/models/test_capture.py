"""Capture loading: the two real captures (lego, fox) and small synthetic
captures of every layout feature (per-frame intrinsics, masks, meshes,
nerfstudio keys, downscaling, confinement to the capture folder)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from models.capture import load_capture
from models.errors import CaptureError, MeshError
from models.imageio import srgb_to_linear

# ------------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def lego(shared_data: Path):
    return load_capture(shared_data / "captures" / "lego")


@pytest.fixture(scope="module")
def fox(shared_data: Path):
    return load_capture(shared_data / "captures" / "fox")


def test_lego_is_nerf_synthetic_with_alpha_masks(lego, shared_data: Path) -> None:
    doc = json.loads((shared_data / "captures/lego/transforms_train.json").read_text())
    assert lego.layout == "nerf-synthetic"
    assert lego.splits == {"train": 100}
    assert lego.mask_sources == {"alpha": 100}
    assert lego.mesh_path is None and lego.aabb_scale is None
    f = 400 / math.tan(doc["camera_angle_x"] / 2)
    for view, frame in zip(lego.views, doc["frames"]):
        c = view.camera
        assert (c.width, c.height, c.cx, c.cy) == (800, 800, 400, 400)
        assert c.fx == pytest.approx(f) and c.fy == pytest.approx(f)
        assert view.image_path.name == Path(frame["file_path"]).name + ".png"
        np.testing.assert_allclose(c.c2w, lego.world_from_capture @ np.array(frame["transform_matrix"]), atol=1e-5)
        np.testing.assert_allclose(c.c2w[:3, :3].T @ c.c2w[:3, :3], np.eye(3), atol=1e-12)  # snapped to rigid
    np.testing.assert_allclose(lego.up, [0, 0, 1])
    # Relit's world is +Y up: Blender's +Z is turned onto +Y, so the cameras,
    # which all sit above the object, end up above it along +Y.
    np.testing.assert_allclose(lego.world_from_capture[:3, :3] @ [0, 0, 1], [0, 1, 0], atol=1e-12)
    assert all(v.camera.position[1] > 0 for v in lego.views)


def test_every_lego_camera_looks_at_the_origin(lego) -> None:
    for view in lego.views:
        o, d = view.camera.position, view.camera.forward
        miss = np.linalg.norm(-o - np.dot(-o, d) * d)  # distance from the origin to the optical axis
        assert miss < 1e-4, view.name
        assert np.dot(-o, d) > 3.0  # the origin is ahead, not behind


@pytest.mark.parametrize("name", ["lego", "fox"])
def test_bounding_sphere_centre_projects_inside_every_image(name: str, request) -> None:
    capture = request.getfixturevalue(name)
    centre, radius = capture.bounding_sphere()
    assert radius > 0
    for view in capture.views:
        uv, depth = view.camera.project(centre[None])
        assert depth[0] > radius, view.name
        assert 0 <= uv[0, 0] <= view.camera.width and 0 <= uv[0, 1] <= view.camera.height, view.name


def test_lego_bounding_sphere_holds_every_silhouette(lego) -> None:
    """Rays through object pixels (alpha > 0.5) all pass within the sphere."""
    centre, radius = lego.bounding_sphere()
    assert np.linalg.norm(centre) < 1e-3
    for view in lego.views[::25]:
        mask = view.load_mask()
        o, d = view.camera.pixel_rays()
        o, d = o[mask > 0.5], d[mask > 0.5]
        t = ((centre - o) * d).sum(1)
        miss = np.linalg.norm(o + t[:, None] * d - centre, axis=1)
        assert mask.sum() > 1000 and miss.max() <= radius, view.name


def test_lego_pixels_are_linearised_srgb_with_alpha_mask(lego) -> None:
    view = lego.views[3]
    image, mask = view.load()
    raw = np.asarray(Image.open(view.image_path)).astype(np.float32) / 255
    assert image.shape == (800, 800, 3) and image.dtype == np.float32
    np.testing.assert_allclose(image, srgb_to_linear(raw[:, :, :3]), atol=1e-6)
    np.testing.assert_allclose(mask, raw[:, :, 3], atol=1e-6)
    assert 0.05 < mask.mean() < 0.9  # a real silhouette, neither empty nor full


def test_lego_downscale_averages_pixels_and_scales_cameras(lego, shared_data: Path) -> None:
    half = load_capture(shared_data / "captures" / "lego", downscale=2)
    full_view, view = lego.views[7], half.views[7]
    assert (view.camera.width, view.camera.height) == (400, 400)
    assert view.camera.fx == pytest.approx(full_view.camera.fx / 2)
    assert view.camera.cx == pytest.approx(200)
    image = view.load_image()
    expected = full_view.load_image().reshape(400, 2, 400, 2, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(image, expected, atol=1e-6)


def test_fox_intrinsics_and_distortion(fox, shared_data: Path) -> None:
    assert fox.layout == "instant-ngp"
    assert len(fox.views) == 67 and fox.splits == {"train": 67}
    assert fox.aabb_scale == 4
    assert fox.mask_sources == {"none": 67}
    for view in fox.views:
        src = view.source_camera
        assert (src.width, src.height) == (1080, 1920)
        assert (src.fx, src.fy, src.cx, src.cy) == (1375.52, 1374.49, 554.558, 965.268)
        d = src.distortion
        assert (d.model, d.k1, d.k2, d.p1, d.p2) == ("opencv", 0.0578421, -0.0805099, -0.000980296, 0.00015575)
        assert view.camera.distortion.is_identity and view.camera.fx == src.fx and view.undistorts
    assert fox.views[0].name == "images/0001.jpg"
    np.testing.assert_allclose(fox.up, [0, 0, 1])


def test_fox_undistorted_image_keeps_content_where_distortion_is_small(shared_data: Path) -> None:
    """At 1/8 size: the undistorted photo matches the raw one near the
    principal point (distortion ~0 there) and differs toward the corners."""
    capture = load_capture(shared_data / "captures" / "fox", downscale=8)
    raw_capture = load_capture(shared_data / "captures" / "fox", downscale=8, undistort=False)
    view, raw_view = capture.views[10], raw_capture.views[10]
    assert not raw_view.undistorts and not raw_view.camera.distortion.is_identity
    a, b = view.load_image(), raw_view.load_image()
    assert a.shape == b.shape == (240, 135, 3)
    diff = np.abs(a - b).mean(axis=2)
    cy, cx = int(view.camera.cy), int(view.camera.cx)
    centre = diff[cy - 10 : cy + 10, cx - 10 : cx + 10].mean()
    border = np.concatenate([diff[:20], diff[-20:]]).mean()  # where the lens moves pixels by ~1 px
    assert centre < 0.001 and border > 20 * centre
    coverage = view.load_coverage()
    assert coverage.shape == (240, 135) and coverage[cy, cx] and 0.9 < coverage.mean() <= 1.0


# ------------------------------------------------------------------ synthetic captures


def write_png(path: Path, width: int, height: int, channels: int = 3, value: int = 128) -> np.ndarray:
    rng = np.random.default_rng(len(str(path)))
    data = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    if channels == 4:
        data[:, :, 3] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(data[:, :, 0] if channels == 1 else data).save(path)
    return data


def look_at(eye, target=(0, 0, 0), up=(0, 0, 1)) -> list[list[float]]:
    from models.camera import Camera

    return Camera.look_at(np.array(eye, float), np.array(target, float), np.array(up, float), 8, 8, 1.0).c2w.tolist()


def ring(n: int, radius: float = 4.0) -> list[list[list[float]]]:
    return [look_at((radius * math.cos(a), radius * math.sin(a), 1.0)) for a in np.linspace(0, 2 * math.pi, n, False)]


def write_json(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc, indent=1))
    return path


def test_instant_ngp_per_frame_overrides(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", 32, 24)
    write_png(tmp_path / "b.png", 16, 12)
    poses = ring(2)
    write_json(tmp_path / "transforms.json", {
        "fl_x": 30.0, "k1": 0.1, "aabb_scale": 2,
        "frames": [
            {"file_path": "a.png", "transform_matrix": poses[0]},
            {"file_path": "b.png", "transform_matrix": poses[1], "w": 16, "h": 12, "fl_x": 14.0, "fl_y": 15.0,
             "cx": 7.5, "k1": 0.0},
        ],
    })
    c = load_capture(tmp_path)
    assert c.layout == "instant-ngp" and c.aabb_scale == 2
    a, b = (v.source_camera for v in c.views)
    assert (a.width, a.height, a.fx, a.fy, a.cx, a.cy, a.distortion.k1) == (32, 24, 30.0, 30.0, 16, 12, 0.1)
    assert (b.width, b.height, b.fx, b.fy, b.cx, b.cy) == (16, 12, 14.0, 15.0, 7.5, 6)
    assert b.distortion.is_identity and not c.views[1].undistorts
    assert c.mask_sources == {"none": 2}


def test_nerfstudio_fisheye_mask_path_and_applied_transform(tmp_path: Path) -> None:
    write_png(tmp_path / "images" / "f0.png", 20, 10)
    mask = np.zeros((10, 20), np.uint8)
    mask[2:8, 5:15] = 255
    mask[0, 0] = 128
    (tmp_path / "m").mkdir()
    Image.fromarray(mask).save(tmp_path / "m" / "f0.png")
    applied = [[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0]]
    write_json(tmp_path / "transforms.json", {
        "camera_model": "OPENCV_FISHEYE", "fl_x": 10, "fl_y": 10, "cx": 10, "cy": 5, "w": 20, "h": 10,
        "k1": 0.01, "k2": -0.002, "k3": 0.0003, "k4": -0.00004, "applied_transform": applied,
        "frames": [{"file_path": "images/f0.png", "mask_path": "m/f0.png", "transform_matrix": ring(1)[0]}],
    })
    c = load_capture(tmp_path)
    assert c.layout == "nerfstudio"
    d = c.views[0].source_camera.distortion
    assert (d.model, d.k1, d.k2, d.k3, d.k4) == ("fisheye", 0.01, -0.002, 0.0003, -0.00004)
    np.testing.assert_array_equal(c.world_from_source, np.array(applied + [[0, 0, 0, 1]], float))
    assert c.views[0].mask_source == "mask_path"
    raw = load_capture(tmp_path, undistort=False).views[0].load_mask()
    expected = mask / 255.0
    np.testing.assert_allclose(raw, expected, atol=1e-6)  # stored values, not linearised
    assert c.views[0].load_mask().shape == (10, 20)


def test_masks_folder_matches_by_name(tmp_path: Path) -> None:
    for name in ("r_0", "r_1"):
        write_png(tmp_path / "train" / f"{name}.png", 8, 8, channels=4)
    write_png(tmp_path / "masks" / "r_0.png", 8, 8, channels=1)
    write_json(tmp_path / "transforms_train.json", {
        "camera_angle_x": 0.8,
        "frames": [{"file_path": f"./train/r_{i}", "transform_matrix": p} for i, p in enumerate(ring(2))],
    })
    c = load_capture(tmp_path)
    assert [v.mask_source for v in c.views] == ["masks/", "alpha"]
    stored = np.asarray(Image.open(tmp_path / "masks" / "r_0.png")) / 255.0
    np.testing.assert_allclose(c.views[0].load_mask(), stored, atol=1e-6)
    np.testing.assert_allclose(c.views[1].load_mask(), 128 / 255, atol=1e-6)  # alpha as stored


def test_mesh_in_folder_gives_the_bounding_sphere(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", 8, 8)
    write_json(tmp_path / "transforms.json", {"fl_x": 8, "frames": [
        {"file_path": "a.png", "transform_matrix": p} for p in ring(3)]})
    box = trimesh.creation.box(extents=(1.0, 2.0, 0.5))
    box.apply_translation((0.25, 0.0, 0.1))
    box.export(tmp_path / "object.ply")
    c = load_capture(tmp_path)
    assert c.mesh_path == tmp_path / "object.ply"
    mesh = c.load_mesh()
    assert (len(mesh.vertices), len(mesh.faces)) == (8, 12)
    centre, radius = c.bounding_sphere()
    # the mesh is turned with the poses from the file's +Z-up world into Relit's +Y-up one
    np.testing.assert_allclose(centre, c.world_from_capture[:3, :3] @ [0.25, 0.0, 0.1], atol=1e-6)
    assert radius == pytest.approx(math.sqrt(1 + 4 + 0.25) / 2, rel=1e-6)
    assert c.bounding_sphere_source == "mesh"


def test_corrupt_mesh_is_a_mesh_error_naming_it(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", 8, 8)
    write_json(tmp_path / "transforms.json", {"fl_x": 8, "frames": [{"file_path": "a.png",
                                                                      "transform_matrix": ring(1)[0]}]})
    (tmp_path / "broken.glb").write_bytes(b"glTF\x02\x00\x00\x00garbage")
    c = load_capture(tmp_path)
    with pytest.raises(MeshError) as info:
        c.load_mesh()
    assert "broken.glb" in str(info.value)


def test_gltf_buffer_outside_the_folder_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "capture"
    write_png(root / "a.png", 8, 8)
    write_json(root / "transforms.json", {"fl_x": 8, "frames": [{"file_path": "a.png",
                                                                  "transform_matrix": ring(1)[0]}]})
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.zeros(36, np.float32).tobytes())
    gltf = {
        "asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "buffers": [{"uri": "../secret.bin", "byteLength": 36}],
        "bufferViews": [{"buffer": 0, "byteLength": 36}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
                       "min": [0, 0, 0], "max": [0, 0, 0]}],
    }
    write_json(root / "mesh.gltf", gltf)
    with pytest.raises(MeshError) as info:
        load_capture(root).load_mesh()
    assert "mesh.gltf" in str(info.value)


@pytest.mark.parametrize("file_path", ["../outside.png", "sub/../../outside.png", "/etc/hostname", "link.png"])
def test_paths_leaving_the_folder_are_refused(tmp_path: Path, file_path: str) -> None:
    root = tmp_path / "capture"
    root.mkdir()
    write_png(tmp_path / "outside.png", 8, 8)
    (root / "link.png").symlink_to(tmp_path / "outside.png")
    write_json(root / "transforms.json", {"fl_x": 8, "frames": [{"file_path": file_path,
                                                                  "transform_matrix": ring(1)[0]}]})
    with pytest.raises(CaptureError) as info:
        load_capture(root)
    assert "refused" in str(info.value) and "transforms.json" in str(info.value)


def test_symlink_inside_the_folder_is_fine(tmp_path: Path) -> None:
    write_png(tmp_path / "data" / "a.png", 8, 8)
    (tmp_path / "a.png").symlink_to(tmp_path / "data" / "a.png")
    write_json(tmp_path / "transforms.json", {"fl_x": 8, "frames": [{"file_path": "a.png",
                                                                      "transform_matrix": ring(1)[0]}]})
    assert load_capture(tmp_path).views[0].load_image().shape == (8, 8, 3)


def test_load_all_reports_progress_and_keeps_order(tmp_path: Path) -> None:
    poses = ring(6)
    frames = []
    for i, p in enumerate(poses):
        write_png(tmp_path / f"v{i}.png", 12, 8, channels=4, value=40 * i)
        frames.append({"file_path": f"v{i}.png", "transform_matrix": p})
    write_json(tmp_path / "transforms.json", {"fl_x": 10, "frames": frames})
    calls = []
    loaded = load_capture(tmp_path).load_all(progress=lambda done, total: calls.append((done, total)), workers=2)
    assert calls == [(i, 6) for i in range(7)]
    assert [m[0, 0] for m in loaded.masks] == pytest.approx([40 * i / 255 for i in range(6)])
    assert all(im.shape == (8, 12, 3) for im in loaded.images)


def test_load_all_can_be_cancelled_from_progress(tmp_path: Path) -> None:
    frames = []
    for i, p in enumerate(ring(5)):
        write_png(tmp_path / f"v{i}.png", 8, 8)
        frames.append({"file_path": f"v{i}.png", "transform_matrix": p})
    write_json(tmp_path / "transforms.json", {"fl_x": 10, "frames": frames})

    def progress(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load_capture(tmp_path).load_all(progress=progress)


def test_rig_sphere_finds_the_point_the_cameras_look_at(tmp_path: Path) -> None:
    target = (0.3, -0.2, 0.5)
    frames = []
    for i, a in enumerate(np.linspace(0, 2 * math.pi, 8, False)):
        write_png(tmp_path / f"v{i}.png", 40, 30)
        eye = (3 * math.cos(a) + target[0], 3 * math.sin(a) + target[1], 1.5)
        frames.append({"file_path": f"v{i}.png", "transform_matrix": look_at(eye, target)})
    write_json(tmp_path / "transforms.json", {"camera_angle_x": 0.9, "frames": frames})
    capture = load_capture(tmp_path)
    centre, radius = capture.bounding_sphere()
    np.testing.assert_allclose(centre, capture.world_from_capture[:3, :3] @ target, atol=1e-9)
    # The image is 40x30: the tighter vertical half-angle bounds the sphere.
    half_fov_y = math.atan(15 / (20 / math.tan(0.45)))
    assert radius == pytest.approx(math.sqrt(9 + 1) * math.sin(half_fov_y), rel=1e-6)


def test_transforms_json_path_may_be_given_directly(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", 8, 8)
    path = write_json(tmp_path / "transforms.json", {"fl_x": 8, "frames": [{"file_path": "a.png",
                                                                             "transform_matrix": ring(1)[0]}]})
    assert load_capture(path).root == tmp_path


def test_obj_material_outside_the_folder_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "capture"
    write_png(root / "a.png", 8, 8)
    write_json(root / "transforms.json", {"fl_x": 8, "frames": [{"file_path": "a.png",
                                                                  "transform_matrix": ring(1)[0]}]})
    (tmp_path / "secret.mtl").write_text("newmtl m\nmap_Kd secret.png\n")
    (root / "object.obj").write_text("mtllib ../secret.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    capture = load_capture(root)
    assert capture.mesh_path == root / "object.obj"
    with pytest.raises(MeshError) as info:
        capture.load_mesh()
    assert "refused" in info.value.problem and info.value.path == root / "object.obj"
    # The same mesh with its material beside it loads.
    (root / "object.obj").write_text("mtllib local.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    (root / "local.mtl").write_text("newmtl m\nKd 1 1 1\n")
    assert len(load_capture(root).load_mesh().faces) == 1
