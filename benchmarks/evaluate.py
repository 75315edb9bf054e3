"""Render a fitted Scene at the benchmark's test cameras and score it against
the Mitsuba ground truth written by benchmarks.generate.

Every test view is rasterized with Relit's rasterizer. Material maps are
read at the pixels whose centre ray hits the object both in that G-buffer
and in the Mitsuba AOV. Relit images are shaded with Relit's shading model
(renderer.shade: split-sum environment light read across the GGX lobe,
baked vertex AO) under each HDRI at RELIGHT_SUPERSAMPLE^2 sub-pixels per
pixel and box-filtered, as Mitsuba's reference is (a pixel-centre sample
of a texture with detail finer than a pixel scored the aliasing: the
oracle of DamagedHelmet rose from 22.9 to 25.8 dB with 2x2 sub-pixels).
Each image is shaded once per *material source*:

- `ours`: the fitted maps, looked up through Relit's G-buffer UVs;
- `oracle`: the ground-truth maps at full resolution, looked up through
  the same UVs when the mesh is the given one (they then equal the AOV's
  UVs), through each pixel's AOV UV on a reconstructed mesh (its own
  atlas): the upper bound of Relit's shading model against Mitsuba's path
  tracer;
- `gt_albedo`: ground-truth albedo with the fitted roughness/metallic, and
  `gt_rough_metal`: fitted albedo with the ground-truth roughness/metallic
  (which of the fitted maps costs how much);
- `ours_rescaled`: the fitted maps with the albedo multiplied by the albedo
  alignment scale, then scored raw (TensoIR's relighting protocol);
- `ours` under the *recovered* environment, on the training-HDRI views
  (how well the fit explains its own photos from new viewpoints).

Scores are defined in benchmarks.scoring.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks import scoring
from benchmarks.mitsuba_scene import sample_texture as sample_texture_np
from models.camera import Camera
from models.imageio import load_image
from models.lighting import Environment
from models.scene import Scene

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RELIT_SHARED_DATA", REPO.parent / "shared" / "data"))
ENV_LEVELS = 6
"""Prefiltered levels of an environment (as models.render_scene uses)."""
RELIGHT_SUPERSAMPLE = 2
"""Sub-pixels per pixel side of the relit images (box filter)."""
RECOVERED = "recovered"
"""Name of the lighting that is the fit's own environment."""
MATERIAL_ROWS = ("ours", "oracle", "gt_albedo", "gt_rough_metal", "ours_rescaled")


@dataclass
class GroundTruth:
    """What benchmarks.generate kept beside a capture (`<asset>_gt/`), read
    into Relit's world: test cameras, per-pixel AOV UV and hit mask, the
    relit test views (straight linear RGB and alpha) per HDRI, the material
    maps and the HDRIs' radiance."""

    folder: Path
    meta: dict
    cameras: list[Camera]
    uv: list[np.ndarray]  # (H,W,2) v = 0 at the bottom
    hit: list[np.ndarray]  # (H,W) bool
    relit: dict[str, list[tuple[np.ndarray, np.ndarray]]]  # hdri -> [(rgb (H,W,3), alpha (H,W))]
    albedo: np.ndarray  # (R,R,3) linear
    roughness: np.ndarray  # (R,R)
    metallic: np.ndarray  # (R,R)
    hdri: dict[str, np.ndarray] = field(default_factory=dict)  # name -> radiance (H,W,3)
    world: np.ndarray = field(default_factory=lambda: np.eye(4))
    """Relit's capture world from the generator's world (where the HDRIs hang
    on +Y): the capture's world_from_capture. Not the identity when the
    capture's transforms.json has no "up" (older generator runs): Relit then
    assumes +Z up and turns mesh and cameras, and the ground-truth lighting
    must be turned with them (`evaluate` shades in the generator's world)."""

    @property
    def train_hdri(self) -> str:
        return self.meta["train_hdri"]["name"]

    @property
    def relight_hdris(self) -> list[str]:
        return [h["name"] for h in self.meta["relight_hdris"]]

    @property
    def lightings(self) -> list[str]:
        """The training HDRI first, then the relight HDRIs."""
        return [self.train_hdri, *self.relight_hdris]

    @staticmethod
    def load(folder: str | Path, world: np.ndarray | None = None, data: Path = SHARED_DATA) -> GroundTruth:
        """Read `<asset>_gt/`; `world` (4x4) is the capture's
        world_from_capture (identity for the generator's +Y-up captures)."""
        from benchmarks.generate import read_exr

        folder = Path(folder)
        meta_path = folder / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{meta_path} is missing (an interrupted benchmarks.generate run?)")
        meta = json.loads(meta_path.read_text())
        world = np.eye(4) if world is None else np.asarray(world, np.float64)
        cams_doc = json.loads((folder / "test_cameras.json").read_text())
        cameras = [_camera(cams_doc, f, world) for f in cams_doc["frames"]]
        uv, hit = [], []
        for k in range(len(cameras)):
            aov = read_exr(folder / "test" / "aov" / f"{k:03d}.exr")
            uv.append(np.stack([aov["uv.U"], aov["uv.V"]], -1))
            hit.append(aov["mask.A"] > 0.5)
        relit = {}
        for name, rel in meta["test_views"].items():
            views = []
            for k in range(len(cameras)):
                rgba = load_image(folder / rel / f"{k:03d}.exr")
                views.append((scoring.unpremultiply(rgba[..., :3], rgba[..., 3]), rgba[..., 3]))
            relit[name] = views
        materials = folder / "materials"
        gt = GroundTruth(
            folder,
            meta,
            cameras,
            uv,
            hit,
            relit,
            load_image(materials / "albedo.exr")[..., :3],
            load_image(materials / "roughness.png", srgb=False)[..., 0],
            load_image(materials / "metallic.png", srgb=False)[..., 0],
            world=world,
        )
        for entry in [meta["train_hdri"], *meta["relight_hdris"]]:
            gt.hdri[entry["name"]] = load_image(_hdri_path(entry, data))[..., :3]
        return gt


def _camera(doc: dict, frame: dict, world: np.ndarray) -> Camera:
    c2w = world @ np.asarray(frame["transform_matrix"], np.float64)
    get = lambda key: frame.get(key, doc.get(key))
    return Camera(int(get("w")), int(get("h")), float(get("fl_x")), float(get("fl_y")), float(get("cx")), float(get("cy")), c2w)


def _hdri_path(entry: dict, data: Path) -> Path:
    for p in (Path(entry["path"]), data / "hdri" / f"{entry['name']}.hdr", data / "hdri" / f"{entry['name']}.exr"):
        if p.is_file():
            return p
    raise FileNotFoundError(f"HDRI {entry['name']} not found at {entry['path']} or under {data / 'hdri'}")


def environment_textures(radiance: np.ndarray, device: torch.device):
    """Prefiltered tables of an HDRI as models.render_scene builds them."""
    from models.render_scene import ENV_TABLE_WIDTH
    from renderer.shade import EnvironmentTextures

    width = min(ENV_TABLE_WIDTH, int(radiance.shape[1]))
    width = max(width - width % 2, 8)
    return EnvironmentTextures.from_environment(Environment(np.ascontiguousarray(radiance, np.float32)), device, ENV_LEVELS, width)


def _area_resize(plane: np.ndarray, size: int) -> np.ndarray:
    """Area-average a map (R,R[,C]) to (size,size[,C])."""
    t = torch.as_tensor(plane, dtype=torch.float32)
    t = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]
    out = F.interpolate(t, size=(size, size), mode="area")[0]
    return (out[0] if plane.ndim == 2 else out.permute(1, 2, 0)).numpy()


@dataclass
class Evaluation:
    """Scores (JSON-able) and the images the figures need."""

    scores: dict
    images: dict[str, list[np.ndarray]]  # "<row>/<lighting>" -> linear RGB per view; "gt/<lighting>"; masks
    materials: dict[str, list[np.ndarray]]  # "<source>/<map>" -> per-view (H,W[,3]) images


def evaluate(scene: Scene, gt: GroundTruth, device: str | torch.device = "cpu", texture_resolution: int | None = None) -> Evaluation:
    """Render `scene` (mesh with AO, fitted maps, recovered environment) at
    the test cameras under every lighting and score it (see module doc)."""
    from renderer.interreflection import bounce_light
    from renderer.raster import rasterize
    from renderer.shade import MaterialSample, shade
    from renderer.texture import sample_texture
    from renderer.visibility import vertex_bounce_rays

    device = torch.device(device)
    rot = torch.as_tensor(gt.world[:3, :3], dtype=torch.float32, device=device)  # capture <- generator
    shift = torch.as_tensor(gt.world[:3, 3], dtype=torch.float32, device=device)
    m = scene.material
    fit_maps = torch.as_tensor(
        np.concatenate([m.albedo[..., :3], m.roughness[..., None], m.metallic[..., None]], -1), dtype=torch.float32, device=device
    )
    res = texture_resolution or m.albedo.shape[0]
    gt_small = torch.as_tensor(
        np.concatenate([_area_resize(gt.albedo, res), _area_resize(gt.roughness, res)[..., None], _area_resize(gt.metallic, res)[..., None]], -1),
        device=device,
    )
    envs = {name: environment_textures(gt.hdri[name], device) for name in gt.lightings}
    envs[RECOVERED] = environment_textures(scene.lighting.environment.radiance, device)

    images: dict[str, list[np.ndarray]] = {}
    materials: dict[str, list[np.ndarray]] = {}
    sel_masks, ious = [], []

    def put(store: dict, key: str, value: np.ndarray) -> None:
        store.setdefault(key, []).append(value)

    # Pass 1: geometry and per-pixel materials of every view.
    per_view = []
    given_uv = True  # the mesh's uv are the true maps' (the given mesh, not a reconstruction)
    for k, cam in enumerate(gt.cameras):
        gb = rasterize(scene.mesh, cam, device)
        cov = gb.coverage.cpu().numpy()
        hit = gt.hit[k]
        ious.append(scoring.mask_iou(cov, hit))
        sel = cov & hit
        flat = np.flatnonzero(sel.reshape(-1))
        s = gb.gather(torch.as_tensor(flat, device=device))
        with torch.no_grad():
            fit = sample_texture(fit_maps, s.uv).clamp(0, 1)
            ceiling = sample_texture(gt_small, s.uv).clamp(0, 1)
        uv = gt.uv[k][sel]
        truth = {
            "albedo": sample_texture_np(gt.albedo, uv),
            "roughness": sample_texture_np(gt.roughness, uv),
            "metallic": sample_texture_np(gt.metallic, uv),
        }
        sources = {
            "ours": {"albedo": fit[:, :3], "roughness": fit[:, 3:4], "metallic": fit[:, 4:5]},
            "gt": {n: torch.as_tensor(v, dtype=torch.float32, device=device).reshape(len(flat), -1) for n, v in truth.items()},
            "gt_at_fit_res": {"albedo": ceiling[:, :3], "roughness": ceiling[:, 3:4], "metallic": ceiling[:, 4:5]},
        }
        for source, maps in sources.items():
            for name, value in maps.items():
                put(materials, f"{source}/{name}", _scatter(sel, value.cpu().numpy()))
        sel_masks.append(sel)
        same_uv = bool(np.median(np.abs(s.uv.cpu().numpy() - uv).max(-1)) < 1e-3) if len(flat) else False
        per_view.append(_subpixels(scene.mesh, cam, sel, gt.uv[k] if not same_uv else None, fit_maps, gt, rot, shift, device))
        given_uv = given_uv and same_uv

    # Materials: fitted (and the texture-resolution ceiling) vs the truth.
    material_scores = {}
    for source in ("ours", "gt_at_fit_res"):
        material_scores[source] = {
            "albedo": scoring.albedo_scores(materials[f"{source}/albedo"], materials["gt/albedo"], sel_masks),
            "roughness_mae": scoring.mae_scores(materials[f"{source}/roughness"], materials["gt/roughness"], sel_masks),
            "metallic_mae": scoring.mae_scores(materials[f"{source}/metallic"], materials["gt/metallic"], sel_masks),
        }
    albedo_scale = torch.as_tensor(material_scores["ours"]["albedo"]["scale"], dtype=torch.float32, device=device)

    # Pass 2: shade every material row under every lighting.
    def row_material(row: str, src: dict) -> MaterialSample:
        ours, truth = src["ours"], src["gt"]
        pick = {
            "ours": (ours["albedo"], ours),
            "oracle": (truth["albedo"], truth),
            "gt_albedo": (truth["albedo"], ours),
            "gt_rough_metal": (ours["albedo"], truth),
            "ours_rescaled": ((ours["albedo"] * albedo_scale).clamp(0, 1), ours),
        }[row]
        return MaterialSample(pick[0], pick[1]["roughness"], pick[1]["metallic"])

    truth_maps = np.concatenate([gt.albedo[..., :3], gt.roughness[..., None], gt.metallic[..., None]], -1)

    def hit_material(row: str, given_uv: bool):
        """Where bounce rays land: the row's maps read at the mesh's uv (the
        true maps only through the true mesh's own uv; on a reconstructed
        mesh, the fitted ones stand in)."""
        def at(uv: torch.Tensor) -> MaterialSample:
            ours = sample_texture(fit_maps, uv).clamp(0, 1)
            truth = ours
            if given_uv:
                truth = torch.as_tensor(sample_texture_np(truth_maps, uv.cpu().numpy()), dtype=torch.float32, device=device)
            albedo_src, rest_src = {
                "ours": (ours, ours), "oracle": (truth, truth), "gt_albedo": (truth, ours),
                "gt_rough_metal": (ours, truth), "ours_rescaled": (ours, ours),
            }[row]
            albedo = albedo_src[:, :3] if row != "ours_rescaled" else (ours[:, :3] * albedo_scale).clamp(0, 1)
            return MaterialSample(albedo, rest_src[:, 3:4], rest_src[:, 4:5])

        return at

    plan = [(row, light) for row in MATERIAL_ROWS for light in gt.lightings] + [("ours", RECOVERED)]
    rays = vertex_bounce_rays(scene.mesh) if per_view and per_view[0].in_capture.visibility is not None else None
    for row, light in plan:
        bounce = None
        if rays is not None:  # the object's own light under this row's maps and this light
            maps = per_view[0].in_capture.visibility.maps
            frame = None if light == RECOVERED else per_view[0].in_generator.visibility.frame
            bounce = bounce_light(rays, scene.mesh, maps, hit_material(row, given_uv), envs[light], frame)
        for view in per_view:
            surface = view.in_capture if light == RECOVERED else view.in_generator
            if bounce is not None:
                surface = replace(surface, visibility=surface.visibility.with_bounce(bounce))
            with torch.no_grad():
                rgb = shade(surface, row_material(row, view.sources), envs[light])["shaded"]
            put(images, f"{row}/{light}", view.box_filter(rgb.cpu().numpy()))

    relight_scores: dict[str, dict[str, dict]] = {}
    relight_masks = {}
    for light in gt.lightings:
        relight_masks[light] = [
            h & (a >= scoring.FULL_COVERAGE) & view.full for h, (_, a), view in zip(gt.hit, gt.relit[light], per_view)
        ]
        images[f"gt/{light}"] = [rgb for rgb, _ in gt.relit[light]]
    for row, light in plan:
        truth_light = gt.train_hdri if light == RECOVERED else light
        preds, gts, masks = images[f"{row}/{light}"], images[f"gt/{truth_light}"], relight_masks[truth_light]
        scale = np.ones(3) if row == "ours_rescaled" else None  # TensoIR: the albedo scale only
        relight_scores.setdefault(row, {})[light] = scoring.relight_scores(preds, gts, masks, scale=scale)
    scores = {
        "relight": relight_scores,
        "materials": material_scores,
        "lightings": {"train": gt.train_hdri, "relight": gt.relight_hdris},
        "test_views": len(gt.cameras),
        "coverage_iou": float(np.mean(ious)),
        "scored_pixels_per_view": float(np.mean([np.count_nonzero(x) for x in relight_masks[gt.train_hdri]])),
        "texture_resolution": res,
    }
    images["mask/materials"] = sel_masks
    for light, masks in relight_masks.items():
        images[f"mask/{light}"] = masks
    return Evaluation(scores, images, materials)


@dataclass
class _SubPixels:
    """The covered sub-pixels of one test view's selected pixels: surfaces in
    both worlds, materials per source, and how they filter back to pixels."""

    in_capture: object  # SurfaceSample in the fit's world (recovered light)
    in_generator: object  # SurfaceSample in the HDRIs' world
    sources: dict[str, dict[str, torch.Tensor]]
    mask: np.ndarray  # (H*S, W*S) shaded sub-pixels
    full: np.ndarray  # (H, W) pixels whose every sub-pixel is shaded
    factor: int

    def box_filter(self, values: np.ndarray) -> np.ndarray:
        """Shaded values (N, C) -> (H, W, C): the mean over each pixel's sub-pixels
        (only meaningful where `full`)."""
        big = _scatter(self.mask, values)
        f = self.factor
        h, w = big.shape[0] // f, big.shape[1] // f
        return big.reshape(h, f, w, f, -1).mean((1, 3))


def _subpixels(
    mesh, cam: Camera, sel: np.ndarray, pixel_uv: np.ndarray | None, fit_maps: torch.Tensor, gt: GroundTruth, rot, shift, device
) -> _SubPixels:
    """Sub-pixels of `sel`. The ground-truth maps are read through the mesh's
    own UVs when they are the ground truth's (`pixel_uv` None: the given
    mesh), else (a reconstructed mesh has its own atlas) through the AOV UV
    (H, W, 2) of each sub-pixel's pixel."""
    from renderer.raster import rasterize
    from renderer.shade import SurfaceSample
    from renderer.texture import sample_texture
    from renderer.visibility import SpecularVisibility, visibility_tensors

    f = RELIGHT_SUPERSAMPLE
    gb = rasterize(mesh, cam.scaled(f), device)
    cov = gb.coverage.cpu().numpy()
    mask = np.repeat(np.repeat(sel, f, 0), f, 1) & cov
    full = mask.reshape(sel.shape[0], f, sel.shape[1], f).all((1, 3))
    flat = np.flatnonzero(mask.reshape(-1))
    s = gb.gather(torch.as_tensor(flat, device=device))
    with torch.no_grad():
        fit = sample_texture(fit_maps, s.uv).clamp(0, 1)
    uv = s.uv.cpu().numpy()
    if pixel_uv is not None:
        ys, xs = np.divmod(flat, sel.shape[1] * f)
        uv = pixel_uv[ys // f, xs // f]
    truth = {n: torch.as_tensor(sample_texture_np(t, uv), dtype=torch.float32, device=device).reshape(len(flat), -1)
             for n, t in (("albedo", gt.albedo), ("roughness", gt.roughness), ("metallic", gt.metallic))}
    sources = {"ours": {"albedo": fit[:, :3], "roughness": fit[:, 3:4], "metallic": fit[:, 4:5]}, "gt": truth}
    vis = vis_gen = None
    tensors = visibility_tensors(mesh, device)
    if tensors is not None:  # as models.render_scene shades
        maps, faces = tensors
        vis = SpecularVisibility.at(maps, faces, s.triangle, s.barycentric)
        vis_gen = SpecularVisibility.at(maps, faces, s.triangle, s.barycentric, frame=rot.T.contiguous())
    return _SubPixels(
        SurfaceSample(s.position, s.normal, s.view_dir, s.ao, vis),
        SurfaceSample((s.position - shift) @ rot, s.normal @ rot, s.view_dir @ rot, s.ao, vis_gen),
        sources, mask, full, f,
    )


def _scatter(sel: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values (N,C) of the pixels where sel (H,W) is True -> an image (H,W[,C]), zeros elsewhere."""
    values = np.asarray(values, np.float32)
    channels = values.shape[1] if values.ndim == 2 else 1
    out = np.zeros(sel.shape + (channels,), np.float32)
    out[sel] = values.reshape(-1, channels)
    return out[..., 0] if channels == 1 else out
