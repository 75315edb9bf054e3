"""How far Relit's environment term is from the integral it stands for
(issue 3 diagnostics).

For one test view of a benchmark capture (`python -m benchmarks.generate`
first), under one of its HDRIs, every fully covered pixel is shaded with the
true maps three ways:

- Relit's environment term (renderer/shade.py: the split sum with
  `--lookups` lookups across the specular lobe; 0 is the single lookup a fit
  step makes) without AO or visibility;
- brute-force Monte Carlo of the same BRDF (renderer/brdf.py) against the
  full-resolution HDRI, without occlusion: visible-normal samples of the
  specular lobe and cosine samples of the coupled diffuse, `--samples` each;
- Mitsuba's path-traced test view (with shadows and inter-reflection).

With `--shifted`, each lookup count is shaded a second time with every
pixel's sample set moved at random (renderer/specular_lobe.shifted_disk,
as the fit's lobe ratio does; rows `relitKs`). `--blur B` also reports
the ratios averaged over B x B pixel boxes first: error that neighbours
share (bands a fit reads as albedo) survives that, noise does not.

Relit / Monte Carlo is the error of the shading approximation alone;
Monte Carlo / Mitsuba is what shadows and inter-reflection add (and
Mitsuba's own noise). Both as 10th / 50th / 90th percentiles of the per-pixel
ratio of mean brightness, for metallic (>= 0.5) and dielectric pixels:

    python -m benchmarks.lobe_error --asset WaterBottle --view 1 --lookups 0 32 128 512

Prints a table and writes it to `<out>/lobe-error-<asset>-<view>.json`.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

REPO = Path(__file__).resolve().parent.parent
CHUNK = 64
"""Monte Carlo samples per pixel taken at once (bounds the (N, CHUNK) temporaries)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.lobe_error", description=__doc__.split("\n\n")[0])
    p.add_argument("--bench-out", type=Path, default=REPO / "bench-out", help="generated captures (default: %(default)s)")
    p.add_argument("--out", type=Path, default=None, help="results folder (default: <bench-out>/lobe-error)")
    p.add_argument("--asset", default="WaterBottle")
    p.add_argument("--view", type=int, default=1, help="test view index (default: %(default)s)")
    p.add_argument("--hdri", default=None, help="one of the capture's HDRIs (default: the training one)")
    p.add_argument("--lookups", type=int, nargs="+", default=[0, 32, 128, 512], help="Relit's lobe lookups to compare")
    p.add_argument("--samples", type=int, default=16384, help="Monte Carlo samples per pixel and lobe (default: %(default)s)")
    p.add_argument("--shifted", action="store_true", help="also shade with a random sample shift per pixel")
    p.add_argument("--blur", type=int, default=0, help="also report ratios averaged over B x B pixel boxes")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: %(default)s)")
    return p.parse_args(argv)


def monte_carlo(n: Tensor, v: Tensor, albedo: Tensor, roughness: Tensor, metallic: Tensor, radiance: Tensor,
                samples: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """(specular, diffuse) radiance (N,3) each: the BRDF integrated against
    `radiance` (H,W,3) without occlusion. Specular: visible normals m of GGX
    (renderer/specular_lobe.lobe_samples with random disk points), whose
    estimator is F(v.m) G2/G1 L. Diffuse: cosine samples, whose estimator
    is albedo (1 - metallic) (1 - E(v)) (1 - E(l)) / (1 - E_avg) L."""
    from renderer.brdf import (
        default_dfg, dielectric_albedo, dielectric_albedo_average, fresnel_schlick, sample_roughness_table, specular_f0,
    )
    from renderer.envmap import sample_equirect
    from renderer.specular_lobe import lobe_samples, tangent_frame

    gen = torch.Generator().manual_seed(seed)
    dfg = default_dfg(n.device, n.dtype)
    count = n.shape[0]
    f0 = specular_f0(albedo, metallic)
    e_v = dielectric_albedo(dfg, (n * v).sum(-1, keepdim=True).clamp_min(1e-4), roughness)
    e_avg = sample_roughness_table(dielectric_albedo_average(dfg), roughness)
    t, b = tangent_frame(n, v)
    specular = torch.zeros(count, 3, dtype=n.dtype)
    coupled = torch.zeros(count, 3, dtype=n.dtype)
    passes = max(1, samples // CHUNK)
    for _ in range(passes):
        u = torch.rand(CHUNK, 2, generator=gen, dtype=n.dtype)
        disk = torch.stack([u[:, 0].sqrt() * torch.cos(2 * math.pi * u[:, 1]), u[:, 0].sqrt() * torch.sin(2 * math.pi * u[:, 1])], -1)
        l, weight, _ = lobe_samples(n, v, roughness, CHUNK, disk)  # (N,K,3), (N,K)
        m = torch.nn.functional.normalize(l + v[:, None], dim=-1)
        v_dot_m = (m * v[:, None]).sum(-1, keepdim=True).clamp(0.0, 1.0)
        fresnel = fresnel_schlick(f0[:, None], v_dot_m)
        lit = sample_equirect(radiance, l.reshape(-1, 3)).reshape(count, CHUNK, 3)
        specular += (lit * fresnel * weight[..., None]).sum(1)
        c = torch.rand(count, CHUNK, 2, generator=gen, dtype=n.dtype)
        r, phi, z = c[..., 0].sqrt(), 2 * math.pi * c[..., 1], (1.0 - c[..., 0]).clamp_min(0.0).sqrt()
        l = (r * torch.cos(phi))[..., None] * t[:, None] + (r * torch.sin(phi))[..., None] * b[:, None] + z[..., None] * n[:, None]
        e_l = dielectric_albedo(dfg, z.reshape(-1, 1), roughness.repeat_interleave(CHUNK, 0)).reshape(count, CHUNK, 1)
        coupled += (sample_equirect(radiance, l.reshape(-1, 3)).reshape(count, CHUNK, 3) * (1.0 - e_l)).sum(1)
    total = passes * CHUNK
    diffuse = coupled / total * albedo * (1.0 - metallic) * (1.0 - e_v) / (1.0 - e_avg)
    return specular / total, diffuse


def _percentiles(numerator: Tensor, denominator: Tensor) -> list[float]:
    ratio = numerator.mean(-1) / denominator.mean(-1).clamp_min(1e-4)
    return [round(float(x), 3) for x in np.percentile(ratio.numpy(), [10, 50, 90])]


def _box_mean(values: Tensor, sel: np.ndarray, size: int) -> Tensor:
    """(N,C) per-pixel `values` of the pixels `sel` (H,W) selects, each
    replaced by the mean over the selected pixels of its size x size box."""
    h, w = sel.shape
    flat = torch.as_tensor(np.flatnonzero(sel.reshape(-1)))
    grid = torch.zeros(h * w, values.shape[1] + 1, dtype=values.dtype)
    grid[flat, :-1], grid[flat, -1] = values, 1.0
    grid = grid.reshape(1, h, w, -1).permute(0, 3, 1, 2)
    summed = torch.nn.functional.avg_pool2d(grid, size, stride=1, padding=size // 2, count_include_pad=True)
    summed = summed[..., :h, :w].permute(0, 2, 3, 1).reshape(h * w, -1)[flat]
    return summed[:, :-1] / summed[:, -1:].clamp_min(1e-12)


def lobe_error(args: argparse.Namespace) -> dict:
    from benchmarks.evaluate import GroundTruth, environment_textures, sample_texture_np
    from models.capture import load_capture
    from renderer.raster import rasterize
    from renderer.shade import MaterialSample, SurfaceSample, shade_environment

    capture = load_capture(args.bench_out / args.asset)
    gt = GroundTruth.load(args.bench_out / f"{args.asset}_gt", capture.world_from_capture)
    light = args.hdri or gt.train_hdri
    if light not in gt.lightings:
        raise SystemExit(f"{args.asset} has no test views under {light!r}; it has {', '.join(gt.lightings)}")
    camera = gt.cameras[args.view]
    gbuffer = rasterize(capture.load_mesh(), camera, "cpu")
    photo, alpha = gt.relit[light][args.view]
    sel = gbuffer.coverage.numpy() & gt.hit[args.view] & (alpha >= 0.99)
    flat = np.flatnonzero(sel.reshape(-1))
    s = gbuffer.gather(torch.as_tensor(flat))
    rot = torch.as_tensor(gt.world[:3, :3], dtype=torch.float32)  # shade in the HDRIs' world
    n, v = s.normal @ rot, s.view_dir @ rot
    uv = gt.uv[args.view][sel]

    def plane(x: np.ndarray) -> Tensor:
        return torch.as_tensor(sample_texture_np(x, uv), dtype=torch.float32).reshape(len(flat), -1)

    material = MaterialSample(plane(gt.albedo), plane(gt.roughness), plane(gt.metallic))
    radiance = torch.as_tensor(gt.hdri[light], dtype=torch.float32)
    spec_mc, diff_mc = monte_carlo(n, v, material.albedo, material.roughness, material.metallic, radiance, args.samples)
    reference = spec_mc + diff_mc
    mitsuba = torch.as_tensor(photo[sel], dtype=torch.float32)
    env = environment_textures(gt.hdri[light], torch.device("cpu"))
    shaded = {}
    gen = torch.Generator().manual_seed(1)
    for lookups in args.lookups:
        env.lobe_samples = lookups
        with torch.no_grad():
            shaded[f"{lookups}"] = sum(shade_environment(SurfaceSample(s.position, n, v), material, env))
            if args.shifted and lookups > 0:
                shift = torch.rand(len(flat), 2, generator=gen)
                surface = SurfaceSample(s.position, n, v, lobe_shift=shift)
                shaded[f"{lookups}s"] = sum(shade_environment(surface, material, env))
    groups = {"metallic": material.metallic[:, 0] >= 0.5, "dielectric": material.metallic[:, 0] < 0.5}
    rows = []
    for name, mask in groups.items():
        if int(mask.sum()) < 10:
            continue
        row = {"pixels": name, "count": int(mask.sum()), "mc_over_mitsuba": _percentiles(reference[mask], mitsuba[mask])}
        part = sel.copy()  # each group's pixels are boxed among themselves
        part[sel] = mask.numpy()
        boxed_reference = _box_mean(reference[mask], part, args.blur) if args.blur > 1 else None
        for lookups, image in shaded.items():
            row[f"relit{lookups}_over_mc"] = _percentiles(image[mask], reference[mask])
            if boxed_reference is not None:
                row[f"relit{lookups}_over_mc_box{args.blur}"] = _percentiles(_box_mean(image[mask], part, args.blur), boxed_reference)
        rows.append(row)
    return {"asset": args.asset, "view": args.view, "hdri": light, "samples": args.samples, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    result = lobe_error(args)
    out = args.out or args.bench_out / "lobe-error"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"lobe-error-{args.asset}-{args.view}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{args.asset} test view {args.view} under {result['hdri']}, {args.samples} Monte Carlo samples per lobe "
          "(10th / 50th / 90th percentile of the per-pixel ratio):")
    for row in result["rows"]:
        cells = [f"{k}: {v}" for k, v in row.items() if k not in ("pixels", "count")]
        print(f"  {row['pixels']} ({row['count']} px): " + "; ".join(cells))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
