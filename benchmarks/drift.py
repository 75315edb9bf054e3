"""How far the photos pull a fit away from the truth (issue 3 diagnostics).

A fit that begins at the true maps (area-resized to the fit's texture size)
under the true training light should stay there if Relit's shading matched
the path tracer's. Where it does not, the maps drift to whatever explains the
photos better under Relit's model, and that drift, not the search from a
poor start, is what the fit's scores are held back by. This runs such fits
on the benchmark captures (`python -m benchmarks.generate` first) and scores
them like `benchmarks.run`:

    python -m benchmarks.drift --assets DamagedHelmet --iters 3000
    python -m benchmarks.drift --assets DamagedHelmet --freeze-light --env-height 128

Prints, and writes to `<out>/drift-<asset>.json`: the photometric loss on
the fit's fixed validation pixels at the start and at the end, relighting
PSNR (aligned), albedo PSNR (aligned) and roughness / metallic error, at the
start (the truth at the fit's resolution) and at the end; and where the
truth fails to explain the photos, as a map over the texture
(`<out>/drift-<asset>-residual.png`, see `_save_residual_map`). One
metallic start, the default settings otherwise (`--set KEY=VALUE` as in
benchmarks.run).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.drift", description=__doc__.split("\n\n")[0])
    p.add_argument("--bench-out", type=Path, default=REPO / "bench-out", help="generated captures (default: %(default)s)")
    p.add_argument("--out", type=Path, default=None, help="results folder (default: <bench-out>/drift)")
    p.add_argument("--assets", nargs="+", default=["WaterBottle", "Avocado", "DamagedHelmet"])
    p.add_argument("--iters", type=int, default=3000, help="optimiser steps (default: %(default)s)")
    p.add_argument("--env-height", type=int, default=None, help="rows of the fitted light (default: FitConfig's)")
    p.add_argument("--freeze-light", action="store_true", help="keep the light at the truth (learning rate 0)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                   help="override a FitConfig field (dotted, JSON value); repeatable")
    return p.parse_args(argv)


def drift(args: argparse.Namespace, asset: str, out: Path) -> dict:
    """Fit `asset` from the truth; returns the scores at the start and the
    end, and saves the start's residual map in `out`."""
    import numpy as np
    import torch

    from benchmarks.evaluate import GroundTruth, _area_resize, evaluate
    from benchmarks.report import _mean_relight
    from benchmarks.run import apply_settings
    from models.capture import load_capture
    from models.fit_config import FitConfig
    from models.fitter import Fitter, mesh_from_capture, views_from_capture
    from models.material import MaterialMaps

    capture_dir, gt_dir = args.bench_out / asset, args.bench_out / f"{asset}_gt"
    if not capture_dir.is_dir() or not gt_dir.is_dir():
        raise SystemExit(f"{capture_dir} or {gt_dir} is missing: run python -m benchmarks.generate first")
    torch.set_num_threads(args.threads)
    data = FitConfig(iterations=args.iters, device="cpu", metallic_trials=()).to_dict()
    if args.env_height:
        data["env_height"] = args.env_height
    config = FitConfig.from_dict(apply_settings(data, tuple(args.settings)))
    if args.freeze_light:
        config = replace(config, lr=replace(config.lr, environment=0.0))
    capture = load_capture(capture_dir)
    if not np.allclose(capture.world_from_capture, np.eye(4)):
        raise SystemExit(f"{capture_dir}: the capture's frame is turned from the generator's; the true light would not line up")
    gt = GroundTruth.load(gt_dir, capture.world_from_capture)
    res = config.texture_resolution
    truth = MaterialMaps(
        _area_resize(gt.albedo, res)[..., :3].astype(np.float32),
        _area_resize(gt.roughness, res).astype(np.float32),
        _area_resize(gt.metallic, res).astype(np.float32),
    )

    def scores(scene) -> dict:
        s = evaluate(scene, gt, "cpu", res).scores
        m = s["materials"]["ours"]
        return {
            "relight_psnr": round(_mean_relight(s, "ours"), 2),
            "albedo_psnr": round(m["albedo"]["psnr_aligned"], 2),
            "roughness_mae": round(m["roughness_mae"], 3),
            "metallic_mae": round(m["metallic_mae"], 3),
        }

    fitter = Fitter(views_from_capture(capture, config), mesh_from_capture(capture), config)
    fitter.start_from(truth, gt.hdri[gt.train_hdri])
    result = {"asset": asset, "config": config.to_dict(), "freeze_light": args.freeze_light}
    result["start"] = {"validation_loss": round(fitter.validation_loss(), 5), **scores(fitter.current_scene())}
    ratio = fitter.texel_residuals()
    seen = ratio[np.isfinite(ratio)]
    result["start"]["rendered_over_photo_p10_p50_p90"] = [round(float(x), 3) for x in np.percentile(seen, [10, 50, 90])]
    _save_residual_map(ratio, out / f"drift-{asset}-residual.png")
    t0 = time.perf_counter()
    scene = fitter.run()
    result["fit_s"] = round(time.perf_counter() - t0, 1)
    result["end"] = {"validation_loss": round(fitter.validation_loss(), 5), **scores(scene)}
    return result


def _save_residual_map(ratio, path: Path) -> None:
    """The truth's rendered / photographed brightness per texel as a PNG:
    red where Relit renders brighter, blue darker (full at +-41%, half an
    octave), dark green where the ratio is 1, black where no pixel lands."""
    import numpy as np

    from models.imageio import save_png

    seen = np.isfinite(ratio)
    octaves = np.log2(np.where(seen, np.clip(ratio, 1e-3, None), 1.0))
    image = np.zeros(ratio.shape + (3,), np.float32)
    image[..., 0] = np.clip(octaves / 0.5, 0, 1)
    image[..., 1] = 0.15 * seen
    image[..., 2] = np.clip(-octaves / 0.5, 0, 1)
    save_png(path, image)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out or args.bench_out / "drift"
    out.mkdir(parents=True, exist_ok=True)
    for asset in args.assets:
        r = drift(args, asset, out)
        (out / f"drift-{asset}.json").write_text(json.dumps(r, indent=1) + "\n")
        for when in ("start", "end"):
            print(asset, when, " ".join(f"{k}={v}" for k, v in r[when].items()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
