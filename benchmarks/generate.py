"""Render benchmark captures with ground truth: `python -m benchmarks.generate`.

For each glTF asset: a capture folder Relit opens (instant-ngp
`transforms.json`, RGBA PNG views under one HDRI, `mesh.obj`) and beside it
`<asset>_gt/` with the material maps, test cameras, per-pixel AOVs and the
test views relit under the training HDRI and two others. The layout and the
conventions are in benchmarks/README.md; `meta.json` is written last, so a
folder without it is an interrupted run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks import mitsuba_scene as ms
from models.camera import Camera
from models.files import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RELIT_SHARED_DATA", REPO.parent / "shared" / "data"))
DEFAULT_ASSETS = ("WaterBottle", "Avocado", "DamagedHelmet")
DEFAULT_TRAIN_HDRI = "adams_place_bridge_1k"
DEFAULT_RELIGHT_HDRIS = ("potsdamer_platz_1k", "venice_sunset_1k")
GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))


@dataclass(frozen=True)
class GenerateConfig:
    """Settings of one generation run (the CLI flags)."""

    out: Path = REPO / "bench-out"
    """Folder that receives `<asset>/` and `<asset>_gt/`."""
    assets: tuple[str, ...] = DEFAULT_ASSETS
    """Asset names under <data>/assets (or paths to .gltf files)."""
    data: Path = SHARED_DATA
    """The shared data folder (assets/, hdri/)."""
    views: int = 48
    """Training views (Fibonacci directions on the upper part of the sphere)."""
    test_views: int = 8
    """Held-out test views (same band, other directions)."""
    res: int = 256
    """Square image size in pixels."""
    spp: int = 64
    """Samples per pixel of the training views (64: ~37 dB sRGB PSNR of noise)."""
    test_spp: int = 128
    """Samples per pixel of the relit test views (128: ~40 dB)."""
    max_depth: int = 8
    """Path length limit (Mitsuba's max_depth: 2 = direct light only)."""
    bsdf: str = "gltf"
    """Reference BSDF: "gltf" (Relit's glTF metallic-roughness model, the one
    the assets are authored for) or "principled" (Mitsuba's Disney BRDF)."""
    fov_deg: float = 40.0
    """Horizontal field of view."""
    y_min: float = -0.6
    """Lowest camera elevation as the y of its direction (-0.6: upper 80% of the sphere)."""
    train_hdri: str = DEFAULT_TRAIN_HDRI
    relight_hdris: tuple[str, ...] = DEFAULT_RELIGHT_HDRIS
    variant: str = "auto"
    """Mitsuba variant; "auto" takes the first of cuda_ad_rgb, llvm_ad_rgb that
    works here, else scalar_rgb (llvm needs libLLVM >= 15, see README)."""
    threads: int | None = None
    """Render threads (default: every core)."""
    progress: bool = True
    """Show tqdm progress bars on stderr."""


# ---------------------------------------------------------------- cameras


def sphere_directions(n: int, y_min: float, phase: float = 0.0) -> np.ndarray:
    """n Fibonacci directions (n,3), evenly spread over the cap y >= y_min."""
    i = np.arange(n) + 0.5
    y = 1.0 - i / n * (1.0 - y_min)
    r = np.sqrt(np.maximum(0.0, 1.0 - y * y))
    phi = np.arange(n) * GOLDEN_ANGLE + phase
    return np.stack([r * np.sin(phi), y, r * np.cos(phi)], -1)


def orbit_cameras(directions: np.ndarray, res: int, fov_deg: float, margin: float = 1.05) -> list[Camera]:
    """Cameras on `directions` looking at the origin, far enough that the
    unit sphere fits the view with `margin`."""
    fov = math.radians(fov_deg)
    distance = margin / math.sin(0.5 * fov)
    return [
        Camera.look_at(d * distance, np.zeros(3), np.array([0.0, 1.0, 0.0]), res, res, fov) for d in directions
    ]


def transforms_json(cameras: list[Camera], file_paths: list[str]) -> dict:
    """instant-ngp style transforms (camera-to-world, OpenGL axes). The world
    is glTF's, +Y up: `up` tells Relit's loader so it is not turned."""
    c = cameras[0]
    return {
        "up": [0.0, 1.0, 0.0],
        "camera_angle_x": c.fov_x,
        "fl_x": c.fx,
        "fl_y": c.fy,
        "cx": c.cx,
        "cy": c.cy,
        "w": c.width,
        "h": c.height,
        "frames": [
            {"file_path": p, "transform_matrix": np.asarray(cam.c2w).tolist()} for p, cam in zip(file_paths, cameras)
        ],
    }


# ---------------------------------------------------------------- file writers


def write_exr(path: Path, channels: dict[str, np.ndarray]) -> None:
    """float32 EXR (ZIP); `channels` maps EXR names ("R", "uv.U", ...) to (H,W)."""
    import OpenEXR

    data = {k: np.ascontiguousarray(v, np.float32) for k, v in channels.items()}
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, data).write(str(path))


def read_exr(path: Path) -> dict[str, np.ndarray]:
    """Every channel of an EXR as float32 (H,W), by name."""
    import OpenEXR

    with OpenEXR.File(str(path), separate_channels=True) as f:
        return {k: np.asarray(v.pixels, np.float32) for k, v in f.channels().items()}


def write_rgba_png(path: Path, rgb_premultiplied: np.ndarray, alpha: np.ndarray) -> None:
    """8-bit sRGB PNG with straight (not premultiplied) alpha, as NeRF data has."""
    a = np.clip(alpha, 0.0, 1.0)[..., None]
    rgb = np.where(a > 1e-6, rgb_premultiplied / np.maximum(a, 1e-6), 0.0)
    rgba = np.concatenate([ms.linear_to_srgb(rgb), a], -1)
    Image.fromarray(np.round(rgba * 255).astype(np.uint8), "RGBA").save(path)


def write_gray16_png(path: Path, image: np.ndarray) -> None:
    Image.fromarray(np.round(np.clip(image, 0, 1) * 65535).astype(np.uint16)).save(path, compress_level=1)


def write_obj(path: Path, asset: ms.GltfAsset) -> None:
    """Positions, normals and UVs (OBJ's v = 0 at the bottom, as Relit's Mesh)."""
    uv = np.stack([asset.uv[:, 0], 1.0 - asset.uv[:, 1]], -1)
    f = asset.faces + 1
    lines = [f"# {asset.name}, normalised to the unit sphere by benchmarks.generate"]
    lines += [f"v {x:.7g} {y:.7g} {z:.7g}" for x, y, z in asset.vertices]
    lines += [f"vt {u:.7g} {v:.7g}" for u, v in uv]
    lines += [f"vn {x:.6g} {y:.6g} {z:.6g}" for x, y, z in asset.normals]
    lines += [f"f {a}/{a}/{a} {b}/{b}/{b} {c}/{c}/{c}" for a, b, c in f]
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")


# ---------------------------------------------------------------- generation


def _resolve_asset(cfg: GenerateConfig, name: str) -> Path:
    p = Path(name)
    if p.suffix == ".gltf" and p.is_file():
        return p
    p = cfg.data / "assets" / name / f"{name}.gltf"
    if not p.is_file():
        raise FileNotFoundError(f"no glTF asset {name!r} (looked for {p})")
    return p


def _resolve_hdri(cfg: GenerateConfig, name: str) -> Path:
    for p in (Path(name), cfg.data / "hdri" / name, cfg.data / "hdri" / f"{name}.hdr"):
        if p.is_file():
            return p
    raise FileNotFoundError(f"no HDRI {name!r} under {cfg.data / 'hdri'}")


def _progress(cfg: GenerateConfig, items, desc: str):
    if not cfg.progress:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, leave=False, file=sys.stderr)


def _render_views(cfg, scene, cameras, spp, seed0, desc):
    for k, cam in enumerate(_progress(cfg, cameras, desc)):
        yield k, ms.render(scene, cam, spp=spp, seed=seed0 + k)


def _write_relit(folder: Path, k: int, out: dict[str, np.ndarray]) -> None:
    rgb = np.stack([out["R"], out["G"], out["B"]], -1)
    write_exr(folder / f"{k:03d}.exr", {"R": rgb[..., 0], "G": rgb[..., 1], "B": rgb[..., 2], "A": out["A"]})
    write_rgba_png(folder / f"{k:03d}.png", rgb, out["A"])


def _write_inputs(capture: Path, gt: Path, asset: ms.GltfAsset, train, test, train_files) -> None:
    """Cameras, mesh and GT material maps: everything that needs no rendering."""
    write_json(capture / "transforms.json", transforms_json(train, train_files))
    write_json(gt / "test_cameras.json", transforms_json(test, [f"test/{k:03d}" for k in range(len(test))]))
    write_obj(capture / "mesh.obj", asset)
    write_exr(gt / "materials" / "albedo.exr", {c: asset.base_color[..., i] for i, c in enumerate("RGB")})
    albedo_srgb = np.round(ms.linear_to_srgb(asset.base_color) * 255).astype(np.uint8)
    Image.fromarray(albedo_srgb).save(gt / "materials" / "albedo.png", compress_level=1)
    write_gray16_png(gt / "materials" / "roughness.png", asset.roughness)
    write_gray16_png(gt / "materials" / "metallic.png", asset.metallic)


def _write_aovs(folder: Path, shape, cameras: list[Camera]) -> None:
    """UV (v up), world normal and position, ray distance and hit mask of
    the ray through every pixel centre."""
    scene = ms.load_scene(ms.aov_integrator(), shape)
    for k, cam in enumerate(cameras):
        out = ms.render(scene, cam, pixel_centres=True)
        hit = out["depth.T"] > 0
        channels = {n: np.where(hit, v, 0.0) for n, v in out.items() if n not in ("R", "G", "B", "A")}
        channels["uv.V"] = np.where(hit, 1.0 - out["uv.V"], 0.0)  # Relit/OBJ: v = 0 at the bottom
        channels["mask.A"] = hit.astype(np.float32)
        write_exr(folder / f"{k:03d}.exr", channels)


def generate_asset(cfg: GenerateConfig, name: str) -> dict:
    """Render one asset's capture and ground truth; returns its meta.json."""
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    gltf_path = _resolve_asset(cfg, name)
    hdris = list(dict.fromkeys([cfg.train_hdri, *cfg.relight_hdris]))  # training HDRI first
    hdri_paths = {h: _resolve_hdri(cfg, h) for h in hdris}
    asset, offset, scale = ms.load_gltf(gltf_path).normalised()
    name = asset.name
    capture, gt = cfg.out / name, cfg.out / f"{name}_gt"
    for folder in (capture / "images", gt / "materials", gt / "test" / "aov"):
        folder.mkdir(parents=True, exist_ok=True)
    (gt / "meta.json").unlink(missing_ok=True)

    train_cams = orbit_cameras(sphere_directions(cfg.views, cfg.y_min), cfg.res, cfg.fov_deg)
    test_dirs = sphere_directions(cfg.test_views, cfg.y_min, phase=0.5 * GOLDEN_ANGLE + 0.3)
    test_cams = orbit_cameras(test_dirs, cfg.res, cfg.fov_deg)
    train_files = [f"images/train_{k:03d}.png" for k in range(len(train_cams))]
    _write_inputs(capture, gt, asset, train_cams, test_cams, train_files)
    shape = ms.mesh_shape(asset, ms.BSDFS[cfg.bsdf](asset))
    timings["inputs"] = time.perf_counter() - t_start

    t = time.perf_counter()
    _write_aovs(gt / "test" / "aov", shape, test_cams)
    timings["aov"] = time.perf_counter() - t

    relit_folders = {}
    for h_index, hdri in enumerate(hdris):
        t = time.perf_counter()
        stem = hdri_paths[hdri].stem
        scene = ms.load_scene(ms.path_integrator(cfg.max_depth), shape, ms.load_hdri(hdri_paths[hdri]))
        if h_index == 0:
            for k, out in _render_views(cfg, scene, train_cams, cfg.spp, 0, f"{name} train"):
                write_rgba_png(capture / train_files[k], np.stack([out["R"], out["G"], out["B"]], -1), out["A"])
            timings["train_views"] = time.perf_counter() - t
            t = time.perf_counter()
        folder = gt / "test" / stem
        folder.mkdir(parents=True, exist_ok=True)
        for k, out in _render_views(cfg, scene, test_cams, cfg.test_spp, 10_000 * (h_index + 1), f"{name} {stem}"):
            _write_relit(folder, k, out)
        relit_folders[stem] = f"test/{stem}"
        timings[f"test_views/{stem}"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_start

    meta = _meta(cfg, name, gltf_path, asset, offset, scale, hdri_paths, relit_folders, train_cams, timings)
    write_json(gt / "meta.json", meta)
    return meta


def _meta(cfg, name, gltf_path, asset, offset, scale, hdri_paths, relit_folders, train_cams, timings) -> dict:
    mi = ms.mitsuba_module()
    return {
        "asset": name,
        "source": str(gltf_path),
        "capture": f"../{name}",
        "normalisation": {
            "offset": np.asarray(offset).tolist(),
            "scale": scale,
            "meaning": "capture position = (glTF world position - offset) * scale; unit bounding sphere at the origin",
        },
        "train_hdri": {"name": hdri_paths[cfg.train_hdri].stem, "path": str(hdri_paths[cfg.train_hdri])},
        "relight_hdris": [{"name": hdri_paths[h].stem, "path": str(hdri_paths[h])} for h in cfg.relight_hdris],
        "hdri_scale": 1.0,
        "test_views": relit_folders,
        "resolution": [cfg.res, cfg.res],
        "views": cfg.views,
        "n_test_views": cfg.test_views,
        "fov_x_deg": cfg.fov_deg,
        "camera_distance": float(np.linalg.norm(train_cams[0].position)),
        "spp": {"train": cfg.spp, "test": cfg.test_spp, "aov": "1 (pixel centre)"},
        "max_depth": cfg.max_depth,
        "mitsuba": {"version": mi.__version__, "variant": mi.variant(), "threads": cfg.threads or os.cpu_count()},
        "bsdf": BSDF_MEANING[cfg.bsdf],
        "ignored_material_features": list(asset.ignored),
        "material_maps": {
            "albedo": "materials/albedo.exr (linear RGB float32; albedo.png is its sRGB preview)",
            "roughness": "materials/roughness.png (16-bit, linear, perceptual roughness)",
            "metallic": "materials/metallic.png (16-bit, linear)",
            "uv": "row 0 = top = v 1; look up with benchmarks.mitsuba_scene.sample_texture(map, uv)",
        },
        "aov_channels": {
            "uv.U uv.V": "mesh UV, v = 0 at the bottom (as mesh.obj and Relit's Mesh)",
            "normal.X/Y/Z": "world shading normal (interpolated vertex normals)",
            "position.X/Y/Z": "world position",
            "depth.T": "distance along the camera ray from the eye (not view-space z)",
            "mask.A": "1 where the pixel-centre ray hits the object",
        },
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }


BSDF_MEANING = {
    "gltf": "relit_gltf (benchmarks/gltf_bsdf.py): Relit's glTF metallic-roughness BRDF; base_color, roughness, metallic textures",
    "principled": "principled: base_color, roughness, metallic textures; specular 0.5; other lobes 0",
}


def generate(cfg: GenerateConfig) -> list[dict]:
    ms.mitsuba(ms.usable_variant() if cfg.variant == "auto" else cfg.variant)
    if cfg.threads:
        import drjit as dr

        dr.set_thread_count(cfg.threads)
    cfg.out.mkdir(parents=True, exist_ok=True)
    metas = []
    for name in cfg.assets:
        meta = generate_asset(cfg, name)
        print(f"{meta['asset']}: {meta['timings_s']['total']:.1f} s -> {cfg.out / meta['asset']}", flush=True)
        metas.append(meta)
    return metas


def parse_args(argv: list[str] | None = None) -> GenerateConfig:
    p = argparse.ArgumentParser(prog="python -m benchmarks.generate", description=__doc__.split("\n\n")[0])
    d = GenerateConfig()
    p.add_argument("--out", type=Path, default=d.out, help="output folder (default: %(default)s)")
    p.add_argument("--assets", nargs="+", default=list(d.assets), help="asset names or .gltf paths")
    p.add_argument("--data", type=Path, default=d.data, help="shared data folder (default: %(default)s)")
    p.add_argument("--views", type=int, default=d.views)
    p.add_argument("--test-views", type=int, default=d.test_views)
    p.add_argument("--res", type=int, default=d.res)
    p.add_argument("--spp", type=int, default=d.spp, help="training-view samples per pixel (default: %(default)s)")
    p.add_argument("--test-spp", type=int, default=d.test_spp, help="test-view samples per pixel")
    p.add_argument("--max-depth", type=int, default=d.max_depth)
    p.add_argument("--bsdf", choices=sorted(BSDF_MEANING), default=d.bsdf, help="reference BSDF (default: %(default)s)")
    p.add_argument("--fov", type=float, default=d.fov_deg, dest="fov_deg", help="horizontal FOV, degrees")
    p.add_argument("--train-hdri", default=d.train_hdri)
    p.add_argument("--relight-hdris", nargs="+", default=list(d.relight_hdris))
    p.add_argument("--variant", default=d.variant, help="Mitsuba variant (default: %(default)s)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-progress", action="store_false", dest="progress")
    a = p.parse_args(argv)
    return GenerateConfig(
        out=a.out,
        assets=tuple(a.assets),
        data=a.data,
        views=a.views,
        test_views=a.test_views,
        res=a.res,
        spp=a.spp,
        test_spp=a.test_spp,
        max_depth=a.max_depth,
        bsdf=a.bsdf,
        fov_deg=a.fov_deg,
        train_hdri=a.train_hdri,
        relight_hdris=tuple(a.relight_hdris),
        variant=a.variant,
        threads=a.threads,
        progress=a.progress,
    )


def main(argv: list[str] | None = None) -> int:
    try:
        import mitsuba  # noqa: F401
    except ImportError:
        print("benchmarks.generate needs Mitsuba 3: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    generate(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
