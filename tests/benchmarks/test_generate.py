"""The benchmark generator: Mitsuba sees Relit's cameras, environment and UVs
exactly as Relit defines them, and a tiny generation run writes every file."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("mitsuba", reason="Mitsuba 3 is not installed (pip install -e '.[bench]')")

from benchmarks import generate as gen  # noqa: E402
from benchmarks import mitsuba_scene as ms  # noqa: E402
from models.camera import Camera  # noqa: E402
from models.lighting import direction_to_equirect, equirect_to_direction  # noqa: E402

UP = np.array([0.0, 1.0, 0.0])


@pytest.fixture(scope="module", autouse=True)
def scalar_variant():
    ms.mitsuba("scalar_rgb")


@pytest.fixture(scope="module")
def avocado(shared_data):
    path = shared_data / "assets" / "Avocado" / "Avocado.gltf"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return ms.load_gltf(path).normalised()[0]


def hdri(shared_data, name: str) -> np.ndarray:
    path = shared_data / "hdri" / f"{name}.hdr"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return ms.load_hdri(path)


def sample_equirect_relit(image: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Bilinear lookup by Relit's convention (texel centres at (i+0.5)/W,
    (j+0.5)/H; u wraps, v clamps)."""
    h, w = image.shape[:2]
    uv = direction_to_equirect(d)
    x = uv[..., 0] * w - 0.5
    y = np.clip(uv[..., 1] * h - 0.5, 0, h - 1)
    x0, y0 = np.floor(x).astype(int), np.minimum(np.floor(y).astype(int), h - 2)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x0, x1 = x0 % w, (x0 + 1) % w
    return (1 - fy) * ((1 - fx) * image[y0, x0] + fx * image[y0, x1]) + fy * (
        (1 - fx) * image[y0 + 1, x0] + fx * image[y0 + 1, x1]
    )


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.2126, 0.7152, 0.0722])


def render_environment(radiance: np.ndarray, camera: Camera) -> np.ndarray:
    scene = ms.load_scene({"type": "path", "max_depth": 1, "hide_emitters": False}, radiance=radiance)
    out = ms.render(scene, camera, pixel_centres=True)
    return np.stack([out["R"], out["G"], out["B"]], -1)


@pytest.mark.parametrize(
    "target, up",
    [
        ((0.0, 0.0, -1.0), UP),  # the image centre of the equirect map
        ((1.0, 0.5, 0.3), UP),
        ((-0.4, -0.6, 0.7), UP),
        ((0.1, 1.0, 0.05), (0.0, 0.0, -1.0)),  # the top pole
    ],
)
def test_environment_matches_relit_equirect_convention(shared_data, target, up):
    radiance = hdri(shared_data, "adams_place_bridge_1k")
    camera = Camera.look_at(np.zeros(3), np.asarray(target), np.asarray(up), 72, 48, math.radians(70))
    mitsuba_rgb = render_environment(radiance, camera)
    relit_rgb = sample_equirect_relit(radiance, camera.pixel_rays()[1])
    rel = np.abs(luminance(mitsuba_rgb) - luminance(relit_rgb)) / (luminance(relit_rgb) + 1e-3)
    assert np.median(rel) < 0.02, np.median(rel)
    assert np.quantile(rel, 0.9) < 0.1
    # A half turn of the map (Mitsuba's own default) must fail the same check.
    turned = np.roll(radiance, radiance.shape[1] // 2, axis=1)
    turned_rgb = sample_equirect_relit(turned, camera.pixel_rays()[1])
    rel_turned = np.abs(luminance(mitsuba_rgb) - luminance(turned_rgb)) / (luminance(relit_rgb) + 1e-3)
    assert rel_turned.mean() > 10 * rel.mean()


def test_sun_appears_where_equirect_to_direction_says(shared_data):
    radiance = hdri(shared_data, "rooitou_park_1k")
    h, w = radiance.shape[:2]
    j, i = np.unravel_index(np.argmax(luminance(radiance)), (h, w))
    sun = equirect_to_direction(np.array([(i + 0.5) / w, (j + 0.5) / h]))
    # Aim 12 degrees to the side of and 8 below the sun so it lands off-centre.
    right = np.cross(sun, UP)
    right /= np.linalg.norm(right)
    aim = sun + math.tan(math.radians(12)) * right - math.tan(math.radians(8)) * UP
    camera = Camera.look_at(np.zeros(3), aim, UP, 96, 64, math.radians(60))
    predicted, depth = camera.project(sun[None] * 1e3)
    assert depth[0] > 0
    rgb = render_environment(radiance, camera)
    row, col = np.unravel_index(np.argmax(luminance(rgb)), rgb.shape[:2])
    assert abs(col + 0.5 - predicted[0, 0]) <= 1.5 and abs(row + 0.5 - predicted[0, 1]) <= 1.5, (
        (col, row),
        predicted,
    )
    assert abs(predicted[0, 0] - 48) > 10  # really off-centre: mirrored axes would miss


def test_silhouette_and_positions_match_camera_project(avocado):
    shape = ms.mesh_shape(avocado, bsdf={"type": "diffuse"})
    beauty = ms.load_scene(ms.path_integrator(2), shape)  # alpha needs depth >= 2
    aovs = ms.load_scene(ms.aov_integrator(), shape)
    for eye in ([0.4, 0.9, 3.0], [-2.6, -1.2, -1.4]):
        camera = Camera.look_at(np.asarray(eye), np.array([0.1, 0.0, 0.0]), UP, 64, 48, math.radians(60))
        alpha = ms.render(beauty, camera, spp=16)["A"]
        ys, xs = np.nonzero(alpha > 0.5)
        pix, _ = camera.project(avocado.vertices)
        box_alpha = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)
        box_proj = np.array([*pix.min(0), *pix.max(0)])
        assert np.all(box_proj[:2] > 1) and box_proj[2] < 63 and box_proj[3] < 47  # whole object in view
        assert np.all(np.abs(box_alpha - box_proj) <= 1.5), (box_alpha, box_proj)

        out = ms.render(aovs, camera, pixel_centres=True)
        hit = out["depth.T"] > 0
        p = np.stack([out["position.X"], out["position.Y"], out["position.Z"]], -1)[hit]
        projected, depth = camera.project(p)
        rows, cols = np.nonzero(hit)
        centres = np.stack([cols + 0.5, rows + 0.5], -1)
        assert np.abs(projected - centres).max() < 0.02
        np.testing.assert_allclose(np.linalg.norm(p - camera.position, axis=1), out["depth.T"][hit], rtol=1e-4)


def test_uv_lookup_matches_mitsuba_texture(avocado):
    """sample_texture(map, uv) on the written (v-up) UVs gives the texel that
    Mitsuba shaded with: checked through the albedo AOV of a textured diffuse."""
    shape = ms.mesh_shape(avocado, bsdf={"type": "diffuse", "reflectance": ms.bitmap_texture(avocado.base_color)})
    scene = ms.load_scene({"type": "aov", "aovs": "uv:uv,albedo:albedo"}, shape)
    camera = Camera.look_at(np.array([0.5, 0.8, 2.9]), np.zeros(3), UP, 48, 48, math.radians(45))
    out = ms.render(scene, camera, pixel_centres=True)
    hit = out["albedo.R"] > 0
    uv_relit = np.stack([out["uv.U"], 1.0 - out["uv.V"]], -1)[hit]
    looked_up = ms.sample_texture(avocado.base_color, uv_relit, v_up=True)
    mitsuba_albedo = np.stack([out["albedo.R"], out["albedo.G"], out["albedo.B"]], -1)[hit]
    assert hit.sum() > 300
    np.testing.assert_allclose(looked_up, mitsuba_albedo, atol=2e-4)
    # A flipped v would read other texels.
    flipped = ms.sample_texture(avocado.base_color, uv_relit, v_up=False)
    assert np.abs(flipped - mitsuba_albedo).mean() > 10 * np.abs(looked_up - mitsuba_albedo).mean()


def _cameras(transforms: dict) -> list[Camera]:
    t = transforms
    return [
        Camera(t["w"], t["h"], t["fl_x"], t["fl_y"], t["cx"], t["cy"], np.asarray(f["transform_matrix"]))
        for f in t["frames"]
    ]


def test_generate_smoke(shared_data, tmp_path):
    """2 views at 32x32 of one asset: every file of the layout, readable."""
    cfg = gen.GenerateConfig(
        out=tmp_path,
        assets=("Avocado",),
        data=shared_data,
        views=2,
        test_views=1,
        res=32,
        spp=4,
        test_spp=4,
        variant="scalar_rgb",
        progress=False,
    )
    if not (shared_data / "assets" / "Avocado").is_dir():
        pytest.skip("Avocado asset absent")
    (meta,) = gen.generate(cfg)
    capture, gt = tmp_path / "Avocado", tmp_path / "Avocado_gt"

    transforms = json.loads((capture / "transforms.json").read_text())
    assert {"fl_x", "fl_y", "cx", "cy", "w", "h"} <= transforms.keys()
    assert len(transforms["frames"]) == 2
    for frame in transforms["frames"]:
        with Image.open(capture / frame["file_path"]) as im:
            assert im.mode == "RGBA" and im.size == (32, 32)
            alpha = np.asarray(im)[..., 3]
        assert 0.05 < (alpha > 127).mean() < 0.9  # the object, framed, on a transparent background
    obj = (capture / "mesh.obj").read_text().splitlines()
    assert sum(line.startswith("vt ") for line in obj) == sum(line.startswith("v ") for line in obj) > 0

    assert json.loads((gt / "meta.json").read_text())["asset"] == "Avocado"
    assert set(meta["test_views"]) == {"adams_place_bridge_1k", "potsdamer_platz_1k", "venice_sunset_1k"}
    for folder in meta["test_views"].values():
        relit = gen.read_exr(gt / folder / "000.exr")
        assert set(relit) == {"R", "G", "B", "A"} and relit["R"].shape == (32, 32)
        assert (gt / folder / "000.png").is_file()

    # The written files agree with each other: GT albedo looked up through the
    # AOV UVs of the test camera equals Mitsuba's albedo for that camera.
    (camera,) = _cameras(json.loads((gt / "test_cameras.json").read_text()))
    aov = gen.read_exr(gt / "test" / "aov" / "000.exr")
    assert {"uv.U", "uv.V", "normal.X", "position.Z", "depth.T", "mask.A"} <= set(aov)
    albedo = gen.read_exr(gt / "materials" / "albedo.exr")
    albedo = np.stack([albedo["R"], albedo["G"], albedo["B"]], -1)
    hit = aov["mask.A"] > 0
    looked_up = ms.sample_texture(albedo, np.stack([aov["uv.U"], aov["uv.V"]], -1)[hit])
    asset = ms.load_gltf(meta["source"]).normalised()[0]
    shape = ms.mesh_shape(asset, bsdf={"type": "diffuse", "reflectance": ms.bitmap_texture(asset.base_color)})
    out = ms.render(ms.load_scene({"type": "aov", "aovs": "albedo:albedo"}, shape), camera, pixel_centres=True)
    expected = np.stack([out["albedo.R"], out["albedo.G"], out["albedo.B"]], -1)[hit]
    np.testing.assert_allclose(looked_up, expected, atol=2e-4)
    n = np.stack([aov["normal.X"], aov["normal.Y"], aov["normal.Z"]], -1)[hit]
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-3)


def test_jit_variant_renders_like_scalar(avocado):
    """The generator picks llvm_ad_rgb (or cuda) where it works: same camera
    rays, same image up to noise. Skipped where only scalar_rgb runs."""
    variant = ms.usable_variant()
    if variant == "scalar_rgb":
        pytest.skip("no JIT Mitsuba variant works here (llvm_ad_rgb needs libLLVM >= 15 that Dr.Jit can use)")
    camera = Camera.look_at(np.array([0.4, 0.9, 3.0]), np.zeros(3), UP, 48, 32, math.radians(60))
    env = np.ones((16, 32, 3), np.float32)
    results = {}
    try:
        for v in ("scalar_rgb", variant):
            ms.mitsuba(v)
            shape = ms.mesh_shape(avocado)
            aov = ms.render(ms.load_scene(ms.aov_integrator(), shape), camera, pixel_centres=True)
            beauty = ms.render(ms.load_scene(ms.path_integrator(4), shape, env), camera, spp=64)
            results[v] = aov, beauty
    finally:
        ms.mitsuba("scalar_rgb")
    (aov_s, beauty_s), (aov_j, beauty_j) = results["scalar_rgb"], results[variant]
    np.testing.assert_array_equal(aov_s["depth.T"] > 0, aov_j["depth.T"] > 0)
    np.testing.assert_allclose(aov_s["position.X"], aov_j["position.X"], atol=1e-4)
    for c in "RGBA":
        assert abs(beauty_s[c].mean() - beauty_j[c].mean()) < 0.02 * beauty_s[c].mean() + 1e-4, c
