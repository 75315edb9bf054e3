"""Reconstruction benchmark: `python -m benchmarks.reconstruction [CAPTURE ...]`.

Reconstructs each capture's mesh with the capture's own mesh withheld, and
when it has one (the Mitsuba benchmark captures from benchmarks.generate
keep `mesh.obj`), scores the result against it:
- Chamfer distance (symmetric mean, 200k area-uniform samples each way),
  absolute and relative to the reference's bounding radius;
- normal angular error, two ways: surface (face normals of nearest samples)
  and per pixel (interpolated normals where both meshes are hit from the
  capture's test cameras, or its training cameras).
Writes `<out>/<name>.ply`, `<out>/<name>.json` and a preview PNG (the photo
beside the mesh's normals, from a few views) under test-artifacts/.

Targets (issue 6): normal error <= 6 deg and Chamfer <= 1% of the radius in
<= 15 minutes on 2 CPU cores for 48 views at 256^2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT = ("bench-out/WaterBottle", "bench-out/Avocado", "bench-out/DamagedHelmet")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("captures", nargs="*", default=list(DEFAULT))
    p.add_argument("--downscale", type=int, default=1)
    p.add_argument("--out", default=str(REPO / "bench-out" / "reconstruction"))
    p.add_argument("--artifacts", default=str(REPO / "test-artifacts"))
    p.add_argument("--preset", choices=["default", "fast"], default="default")
    p.add_argument("--steps-scale", type=float, default=1.0, help="multiply every stage's steps")
    p.add_argument("--stages", default=None, metavar="R:STEPS[:RAYS],...",
                   help="replace the coarse-to-fine stages, e.g. 48:300,80:400,128:500:4096")
    p.add_argument("--mesh-resolution", type=int, default=None, help="marching-cubes grid (default: the last stage's)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                   help="override a ReconstructionConfig field (dotted, JSON value), e.g. --set loss.smoothness=0.05")
    p.add_argument("--time-budget", type=float, default=0.0, help="refinement seconds (0: none)")
    p.add_argument("--max-views", type=int, default=0)
    p.add_argument("--no-masks", action="store_true", help="ignore masks (mask-free path)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    import torch

    from models.capture import load_capture
    from models.reconstruction.config import ReconstructionConfig
    from models.reconstruction.reconstruct import reconstruct_capture

    torch.set_num_threads(args.threads)
    out, artifacts = Path(args.out), Path(args.artifacts)
    out.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    config = ReconstructionConfig() if args.preset == "default" else ReconstructionConfig.fast()
    if args.stages:
        config = replace(config, stages=_parse_stages(args.stages))
    for item in args.settings:
        config = _override(config, item)
    if args.mesh_resolution is not None:
        config = replace(config, mesh=replace(config.mesh, resolution=args.mesh_resolution))
    config = replace(
        config,
        stages=tuple(replace(s, steps=max(1, round(s.steps * args.steps_scale))) for s in config.stages),
        time_budget_s=args.time_budget,
        max_views=args.max_views,
        use_masks=not args.no_masks,
        device=args.device,
    )
    for path in args.captures:
        capture = load_capture(path, downscale=args.downscale)
        name = Path(path).name
        reference = capture.load_mesh()
        withheld = replace(capture, mesh_path=None, _cache={})  # bounding sphere from the rig too
        print(f"{name}: {len(capture.views)} views, masks {capture.mask_sources}, "
              f"sphere {np.round(withheld.bounding_sphere()[0], 3)} r={withheld.bounding_sphere()[1]:.3f}", flush=True)
        last = [0.0]

        def progress(snap, last=last):
            if snap.elapsed_s - last[0] > 15 or snap.stage in ("done", "cancelled", "mesh"):
                last[0] = snap.elapsed_s
                print(f"  {snap.stage:>14} step {snap.step}/{snap.total_steps} loss {snap.loss:.4f} "
                      f"s={snap.sharpness:.0f} {snap.elapsed_s:.0f}s eta {snap.eta_s:.0f}s", flush=True)

        result = reconstruct_capture(withheld, config, progress)
        mesh = result.mesh
        _save_ply(out / f"{name}.ply", mesh)
        np.savez_compressed(out / f"{name}_sdf.npz", sdf=result.sdf, resolution=result.spec.resolution,
                            half_size=result.spec.half_size, centre=result.frame.centre, radius=result.frame.radius)
        report = {"capture": str(path), "views": len(capture.views), "downscale": args.downscale,
                  "faces": len(mesh.faces), "timings": result.timings, "threads": args.threads,
                  "config": config.to_dict()}
        cameras = _eval_cameras(capture)
        if reference is not None:
            from models.reconstruction.evaluate import compare

            report["metrics"] = compare(mesh, reference, 200_000)
            report["metrics"]["pixel_normal_deg"] = pixel_normal_error(mesh, reference, cameras)
        (out / f"{name}.json").write_text(json.dumps(report, indent=1, default=float))
        print(f"{name}: {json.dumps(report.get('metrics', {}))} timings {result.timings}", flush=True)
        preview(capture, mesh, artifacts / f"reconstruction_{name}.png")
    return 0


def _override(config, item: str):
    """A copy of a (nested, frozen) dataclass with one dotted 'key=json' field replaced."""
    key, sep, value = item.partition("=")
    if not sep:
        raise SystemExit(f"--set {item!r}: expected key=value")
    head, _, rest = key.partition(".")
    if not hasattr(config, head):
        raise SystemExit(f"--set {item!r}: no field {head!r} in {type(config).__name__}")
    if rest:
        return replace(config, **{head: _override(getattr(config, head), f"{rest}={value}")})
    return replace(config, **{head: json.loads(value)})


def _parse_stages(text: str) -> tuple:
    """'48:300,128:500:4096' -> StageConfig tuple (resolution, steps, rays per batch)."""
    from models.reconstruction.config import StageConfig

    stages = []
    for item in text.split(","):
        parts = [int(x) for x in item.split(":")]
        if len(parts) not in (2, 3):
            raise SystemExit(f"--stages: {item!r} is not RESOLUTION:STEPS[:RAYS]")
        stages.append(StageConfig(parts[0], parts[1], rays_per_batch=parts[2] if len(parts) == 3 else 0))
    return tuple(stages)


def _save_ply(path: Path, mesh) -> None:
    import trimesh

    trimesh.Trimesh(mesh.vertices, mesh.faces, process=False).export(path)


def _eval_cameras(capture) -> list:
    """Test cameras of a benchmark capture (from <name>_gt), else training ones."""
    gt = capture.root.parent / f"{capture.root.name}_gt" / "test_cameras.json"
    if gt.is_file():
        from models.camera import Camera

        doc = json.loads(gt.read_text())
        cams = []
        for frame in doc["frames"]:
            c2w = np.asarray(frame["transform_matrix"], np.float64)
            cams.append(Camera(int(doc["w"]), int(doc["h"]), doc["fl_x"], doc["fl_y"], doc["cx"], doc["cy"], c2w))
        return cams
    return [v.camera for v in capture.views[:: max(1, len(capture.views) // 8)]]


def normals_image(mesh, camera) -> tuple[np.ndarray, np.ndarray]:
    """Interpolated unit normals (H, W, 3) and hit mask (H, W) seen by `camera`."""
    from renderer.raycast import cast_rays

    o, d = camera.pixel_rays()
    hits = cast_rays(mesh, o.reshape(-1, 3), d.reshape(-1, 3))
    n = np.zeros((len(hits.t), 3))
    ok = hits.hit
    tri = np.asarray(mesh.faces, np.int64)[hits.triangle[ok]]
    n[ok] = (np.asarray(mesh.normals, np.float64)[tri] * hits.barycentric[ok][..., None]).sum(1)
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    return n.reshape(camera.height, camera.width, 3), ok.reshape(camera.height, camera.width)


def pixel_normal_error(mesh, reference, cameras) -> float:
    """Mean angle (deg) between interpolated normals of `mesh` and `reference`
    over pixels where both are hit."""
    errors = []
    for cam in cameras:
        a, ha = normals_image(mesh, cam)
        b, hb = normals_image(reference, cam)
        both = ha & hb
        errors.append(np.degrees(np.arccos(np.clip((a[both] * b[both]).sum(-1), -1, 1))))
    return float(np.concatenate(errors).mean()) if errors else float("nan")


def preview(capture, mesh, path: Path, count: int = 4) -> None:
    """Photo over normal-shaded mesh for `count` views, side by side."""
    from PIL import Image

    from models.imageio import linear_to_srgb

    views = capture.views[:: max(1, len(capture.views) // count)][:count]
    columns = []
    for view in views:
        cam = view.camera
        photo = np.clip(linear_to_srgb(view.load_image()), 0, 1)
        n, hit = normals_image(mesh, cam)
        light = np.array([0.4, 0.7, 0.6])
        # Shade in camera space so every view is lit from the viewer's upper left.
        n_cam = n @ cam.c2w[:3, :3]
        shade = 0.15 + 0.85 * np.clip(n_cam @ (light / np.linalg.norm(light)), 0, 1)
        colour = np.where(hit[..., None], (0.5 + 0.5 * n_cam) * 0.4 + shade[..., None] * 0.6, 0.12)
        columns.append(np.concatenate([photo, colour], 0))
    image = (np.concatenate(columns, 1) * 255).round().astype(np.uint8)
    Image.fromarray(image).save(path)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    sys.exit(main())
