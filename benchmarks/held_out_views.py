"""Novel-view PSNR of a real capture without a mesh (issue 6: the shared lego).

Every k-th view is held out. The others are used for everything a user's
fit does: reconstruct the mesh from the photos (models.reconstruction),
then fit materials and light on it (models.fitter). The held-out views are
then rendered under the recovered light (anti-aliased, like `render
--supersample 2`) and compared with their photos, in sRGB:

  - object PSNR: over the pixels the photo's mask covers fully (alpha >= 0.99);
  - image PSNR: the whole frame, both composited on white (the NeRF-synthetic
    convention), so a wrong silhouette counts too.

    python -m benchmarks.held_out_views /work/shared/data/captures/lego --downscale 4

Writes `<out>/held_out_views.json` and a figure (photos above renders, error
below) to `<artifacts>/held_out_views_<capture>.png`.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT = REPO.parent / "shared" / "data" / "captures" / "lego"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("capture", nargs="?", default=str(DEFAULT))
    p.add_argument("--downscale", type=int, default=4)
    p.add_argument("--hold-every", type=int, default=8, help="hold out views 0, k, 2k, ...")
    p.add_argument("--recon-seconds", type=float, default=0.0, help="reconstruction refinement budget (0: none)")
    p.add_argument("--fit-seconds", type=float, default=300.0)
    p.add_argument("--threads", type=int, default=2, help="torch threads of the reconstruction (the fit uses 1)")
    p.add_argument("--out", default=str(REPO / "bench-out" / "held-out-views"))
    p.add_argument("--artifacts", default=str(REPO / "test-artifacts"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import torch

    from models.capture import load_capture
    from models.fit_config import FitConfig
    from models.fitter import Fitter, views_from_capture
    from models.imageio import linear_to_srgb
    from models.metrics import psnr
    from models.reconstruction.config import ReconstructionConfig
    from models.reconstruction.reconstruct import reconstruct_capture
    from models.render_scene import SceneRenderer

    args = parse_args(argv)
    path = Path(args.capture)
    if not path.exists():
        print(f"{path}: not found (the shared data is absent); nothing to measure")
        return 0
    out, artifacts = Path(args.out), Path(args.artifacts)
    out.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    capture = load_capture(path, downscale=args.downscale)
    views = capture.split("train") or capture.views
    held = views[:: args.hold_every]
    kept = tuple(v for v in views if v not in held)
    training = replace(capture, views=kept, mesh_path=None, _cache={})
    print(f"{path.name}: {len(kept)} views to fit, {len(held)} held out, {capture.mask_sources}", flush=True)

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    config = replace(ReconstructionConfig(), time_budget_s=args.recon_seconds)
    last = [0.0]

    def progress(snap) -> None:  # noqa: ANN001 - ReconstructionProgress
        if snap.elapsed_s - last[0] > 30 or snap.stage in ("done", "mesh"):
            last[0] = snap.elapsed_s
            print(f"  geometry {snap.stage} step {snap.step}/{snap.total_steps} {snap.elapsed_s:.0f} s", flush=True)

    mesh = reconstruct_capture(training, config, progress).mesh
    recon_s = time.perf_counter() - started

    fit_config = FitConfig(iterations=10**9, time_budget_s=args.fit_seconds, device="cpu", threads=1)
    fitter = Fitter(views_from_capture(training, fit_config), mesh, fit_config)
    scene = fitter.run()
    print(f"  materials: {fitter.step_count} steps in {fitter.elapsed_s:.0f} s "
          f"(setup {fitter.setup_s:.0f} s), kept start {fitter.summary()['metallic_starts']['kept']}", flush=True)

    renderer = SceneRenderer.create(scene, "cpu")
    rows, scores = [], []
    for view in held:
        image, mask = view.load()
        alpha = np.ones(image.shape[:2], np.float32) if mask is None else mask
        photo = linear_to_srgb(np.clip(image, 0.0, 1.0))
        rgba = renderer.render(view.camera, linear=True, background="transparent", supersample=2)
        render = linear_to_srgb(np.clip(rgba[..., :3], 0.0, 1.0))
        full = alpha >= 0.99
        on_white = [c * a[..., None] + (1.0 - a[..., None]) for c, a in ((photo, alpha), (render, rgba[..., 3]))]
        scores.append({"view": view.name, "object_psnr": psnr(render, photo, full),
                       "image_psnr": psnr(*on_white), "object_pixels": int(full.sum())})
        rows.append((on_white[0], on_white[1]))
        print(f"  {view.name}: object {scores[-1]['object_psnr']:.2f} dB, image {scores[-1]['image_psnr']:.2f} dB",
              flush=True)
    report = {
        "capture": str(path), "downscale": args.downscale, "views_fitted": len(kept), "views_held_out": len(held),
        "object_psnr": float(np.mean([s["object_psnr"] for s in scores])),
        "image_psnr": float(np.mean([s["image_psnr"] for s in scores])),
        "reconstruction_s": round(recon_s, 1), "fit_s": round(fitter.elapsed_s, 1), "fit_steps": fitter.step_count,
        "mesh_faces": len(mesh.faces), "per_view": scores, "fit": fitter.summary(),
    }
    (out / "held_out_views.json").write_text(json.dumps(report, indent=1, default=float))
    _figure(rows[:4], artifacts / f"held_out_views_{path.name}.png")
    print(f"{path.name}: held-out object PSNR {report['object_psnr']:.2f} dB, image PSNR {report['image_psnr']:.2f} dB "
          f"(reconstruction {recon_s:.0f} s, fit {fitter.elapsed_s:.0f} s)", flush=True)
    return 0


def _figure(rows: list[tuple[np.ndarray, np.ndarray]], path: Path) -> None:
    """Photos (top), renders (middle), |difference| x4 (bottom), one column per view."""
    from PIL import Image

    columns = [np.concatenate([p, r, np.clip(4.0 * np.abs(p - r), 0.0, 1.0)], 0) for p, r in rows]
    grid = np.concatenate(columns, 1)
    Image.fromarray(np.round(grid * 255).astype(np.uint8)).save(path)


if __name__ == "__main__":
    raise SystemExit(main())
