"""Figures and Markdown of a benchmark run (benchmarks.run).

`save_figures` writes side-by-side PNGs (ground truth | ours | oracle |
error) per asset; `write_markdown` replaces the generated section of
BENCHMARKS.md for the run's device and keeps everything else in the file.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from benchmarks.scoring import error_image, to_display

ROWS = {
    "ours": "**ours** (fitted maps)",
    "oracle": "oracle: GT maps, Relit shading",
    "gt_albedo": "GT albedo + fitted rough./metal.",
    "gt_rough_metal": "fitted albedo + GT rough./metal.",
    "ours_rescaled": "ours, albedo rescaled (TensoIR; raw = its score)",
}
BACKGROUND = 0.12
FIGURE_VIEWS = (0, 3, 6)
INTRO = """# Benchmarks

How well Relit recovers materials and light, measured against an independent
path tracer. `python -m benchmarks.generate` renders captures of three glTF
assets with Mitsuba 3 (48 training views at 256x256 under one HDRI, 8 held-out
test views relit under that HDRI and two others, ground-truth maps and
per-pixel AOVs; see benchmarks/README.md); `python -m benchmarks.run` fits
each capture with the mesh given and scores the fit. The sections between the
`benchmarks.run` markers are generated; the rest is written by hand.

## Running

```
python -m benchmarks.generate                                   # once: bench-out/<asset>/ and <asset>_gt/
nice -n 5 python -m benchmarks.run --device cpu --time-budget 300 --write BENCHMARKS.md
python -m benchmarks.run --device cuda --write BENCHMARKS.md   # its own section; not measured yet (no GPU so far)
python -m benchmarks.run --lego-only --write BENCHMARKS.md     # only the large-capture memory section
python -m benchmarks.run --score-only --write BENCHMARKS.md    # re-score the saved fits (after a scoring change)
python -m benchmarks.run --report-only --write BENCHMARKS.md   # rewrite the sections from the results JSON
```

Each asset is fitted in a fresh process (so its peak memory is its own).
Results go to `bench-out/benchmark/`: `results-<device>.json`, the fitted
scenes (`fits/<asset>/`: scene.glb, environment.hdr, scene.json and the
float maps in maps.npz) and comparison figures (`figures/<asset>_<hdri>.png`:
Mitsuba | ours aligned | oracle | error x4, three test views;
`<asset>_materials.png`; `<asset>_environment.png`: the training HDRI above
the recovered light).

## What is scored

- **Relighting**: the fitted maps are rendered by Relit's torch renderer
  (environment light: split-sum energy with 32 lookups across the GGX lobe,
  renderer/specular_lobe.py; baked vertex AO) at the test cameras under
  the real HDRIs, anti-aliased like `render` (2x2 sub-pixels per pixel,
  box filter, as Mitsuba's reference is filtered), and compared with
  Mitsuba's renders in display space (sRGB encoding of linear RGB clipped
  to [0, 1], exposure 0) over the pixels whose centre ray hits the object,
  whose sub-pixels all hit it, and that the Mitsuba render covers fully
  (alpha >= 0.99). PSNR (peak 1) and SSIM (Gaussian window 11) are
  averaged over the 8 test views. *Aligned*: the prediction's linear RGB is
  first multiplied per channel by the median of gt / pred over the scored
  pixels of all 8 views of that HDRI (one scale per HDRI, as inverse
  rendering leaves albedo x light ambiguous; TensoIR's per-channel median
  alignment). The *TensoIR* row instead rescales the albedo by the albedo
  alignment scale and scores the relit images raw.
- **Albedo**: the fitted albedo map looked up through Relit's G-buffer UVs
  vs the ground-truth map looked up through Mitsuba's AOV UVs, at the same
  pixels; linear, PSNR with peak 1, aligned per channel (pooled median).
- **Roughness / metallic**: mean absolute error, the same lookups, no alignment.
- **Oracle**: the ground-truth maps rendered by Relit's renderer. The
  captures are rendered with Relit's own glTF BRDF as a Mitsuba plugin
  (benchmarks/gltf_bsdf.py; `--bsdf principled` gives Mitsuba's Disney BRDF
  instead), so the reference differs from Relit only in light transport:
  Mitsuba path-traces inter-reflections, exact shadows and the exact
  environment integral, Relit uses the sampled-lobe split sum and baked
  vertex AO. The
  oracle is what a perfect fit would score through Relit's renderer, so
  ours - oracle is the fitter's share of the error and oracle - 100% the
  renderer's (plus what 2x2 sub-pixels leave of texture detail finer
  than a pixel: with one sample per pixel, the oracle of DamagedHelmet
  scored 22.9 dB instead of 25.8). The two *swap*
  rows put the ground truth in for one group of maps: they say which fitted
  map costs how much.
- **Fit time** is the time of the optimiser steps (the budget); setup (UV
  check, AO baking, rasterizing every view, initialisation) and loading are
  listed apart. **Peak memory** is the peak resident set size of the fitting
  process during each phase (Linux VmHWM, reset between phases), which
  includes the Python interpreter and torch (~0.3-0.4 GiB).
"""


# ---------------------------------------------------------------- figures


def _label_row(labels: list[str], width: int, height: int = 18) -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width * len(labels), height), (0, 0, 0))
    draw = ImageDraw.Draw(img)
    for i, text in enumerate(labels):
        draw.text((i * width + 4, 3), text, fill=(235, 235, 235))
    return np.asarray(img, np.float32) / 255


def _grid(rows: list[list[np.ndarray]], labels: list[str]) -> np.ndarray:
    cells = [np.concatenate(r, 1) for r in rows]
    w = rows[0][0].shape[1]
    return np.concatenate([_label_row(labels, w), *cells], 0)


def _on_background(display: np.ndarray, mask: np.ndarray) -> np.ndarray:
    img = display if display.ndim == 3 else np.repeat(display[..., None], 3, -1)
    return np.where(mask[..., None], img, BACKGROUND).astype(np.float32)


def save_figures(folder: Path, asset: str, ev, gt, scene) -> list[str]:
    """Comparison PNGs of one asset: relighting per HDRI, materials, light."""
    from models.imageio import save_png

    folder.mkdir(parents=True, exist_ok=True)
    views = [k for k in FIGURE_VIEWS if k < len(gt.cameras)]
    paths = []
    relight = ev.scores["relight"]
    for light in gt.lightings:
        mask = ev.images[f"mask/{light}"]
        scale = np.asarray(relight["ours"][light]["scale"])
        rows = []
        for k in views:
            g = to_display(ev.images[f"gt/{light}"][k])
            ours = to_display(ev.images[f"ours/{light}"][k] * scale)
            oracle = to_display(ev.images[f"oracle/{light}"][k])
            hit = gt.hit[k]
            rows.append([_on_background(x, hit) for x in (g, ours, oracle)] + [_on_background(error_image(ours, g), mask[k])])
        path = folder / f"{asset}_{light}.png"
        tag = "training HDRI" if light == gt.train_hdri else "relit"
        save_png(path, _grid(rows, [f"Mitsuba GT ({tag})", "ours (aligned)", "oracle (GT maps)", "|ours - GT| x4"]))
        paths.append(str(path))

    m = ev.materials
    a_scale = np.asarray(ev.scores["materials"]["ours"]["albedo"]["scale"])
    rows = []
    for k in views[:2]:
        sel = ev.images["mask/materials"][k]
        rows.append([
            _on_background(to_display(m["gt/albedo"][k]), sel),
            _on_background(to_display(m["ours/albedo"][k] * a_scale), sel),
            _on_background(m["gt/roughness"][k], sel),
            _on_background(m["ours/roughness"][k], sel),
            _on_background(m["gt/metallic"][k], sel),
            _on_background(m["ours/metallic"][k], sel),
        ])
    path = folder / f"{asset}_materials.png"
    save_png(path, _grid(rows, ["GT albedo", "ours (aligned)", "GT roughness", "ours", "GT metallic", "ours"]))
    paths.append(str(path))

    path = folder / f"{asset}_environment.png"
    save_png(path, environment_figure(gt, scene, a_scale))
    paths.append(str(path))
    return paths


def environment_figure(gt, scene, albedo_scale: np.ndarray, width: int = 512) -> np.ndarray:
    """The training HDRI (top) above the recovered environment (bottom),
    both seen in the generator's world, the recovered one divided by the
    albedo scale (albedo x s and light / s render alike), tone mapped alike."""
    from models.lighting import direction_to_equirect, equirect_to_direction

    h = width // 2
    j, i = np.mgrid[0:h, 0:width]
    uv = np.stack([(i + 0.5) / width, (j + 0.5) / h], -1)
    d_gen = equirect_to_direction(uv)
    truth = _lookup(gt.hdri[gt.train_hdri], direction_to_equirect(d_gen))
    d_cap = d_gen @ np.asarray(gt.world)[:3, :3].T
    rec = _lookup(scene.lighting.environment.radiance, direction_to_equirect(d_cap)) / np.asarray(albedo_scale)
    norm = float(np.mean(truth)) * 2
    tone = lambda x: to_display(x / norm / (1 + x / norm))
    return _grid([[tone(truth)], [tone(rec)]], ["training HDRI (top) / recovered light / albedo scale (bottom)"])


def _lookup(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Nearest lookup of an equirect image (H,W,3) at uv (...,2) of a grid
    (h,w,2); images wider than the grid are box-averaged first (no aliasing,
    and the sun keeps its energy)."""
    h, w = image.shape[:2]
    if w >= 2 * uv.shape[1]:
        f = w // uv.shape[1]
        image = image[: h - h % f, : w - w % f].reshape(h // f, f, w // f, f, -1).mean((1, 3))
        h, w = image.shape[:2]
    x = np.clip((uv[..., 0] * w).astype(int), 0, w - 1)
    y = np.clip((uv[..., 1] * h).astype(int), 0, h - 1)
    return image[y, x, :3]


# ---------------------------------------------------------------- text


def _f(x, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return f"{x:.{digits}f}"


def _short(name: str) -> str:
    return name.replace("_1k", "").replace("_", " ")


def _mean_relight(scores: dict, row: str, key: str = "psnr_aligned") -> float:
    lights = scores["lightings"]["relight"]
    vals = [scores["relight"][row][l][key] for l in lights]
    return float(np.mean(vals)) if vals else float("nan")


def _met(value: float, target: float, higher: bool = True) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    ok = value >= target if higher else value <= target
    return "met" if ok else "**not met**"


def _peak(result: dict) -> float:
    return max((p["rss_peak_mib"] for p in result.get("memory", {}).values()), default=float("nan"))


def summary_text(results: dict) -> str:
    """A few plain lines for the console."""
    lines = []
    for asset, r in results["assets"].items():
        if "error" in r:
            lines.append(f"{asset}: FAILED {r['error']}")
            continue
        s = r["scores"]
        lines.append(
            f"{asset}: relight PSNR aligned {_f(_mean_relight(s, 'ours'))} dB (oracle {_f(_mean_relight(s, 'oracle'))}), "
            f"albedo PSNR aligned {_f(s['materials']['ours']['albedo']['psnr_aligned'])} dB, "
            f"roughness MAE {_f(s['materials']['ours']['roughness_mae'], 3)}, metallic MAE {_f(s['materials']['ours']['metallic_mae'], 3)}, "
            f"fit {_f(r['fit'].get('fit_s'), 0)} s ({r['fit'].get('steps')} steps), peak {_f(_peak(r), 0)} MiB"
        )
    if "lego" in results and "error" not in results["lego"]:
        lg = results["lego"]
        lines.append(f"lego: peak {_f(max(p['rss_peak_mib'] for p in lg['memory'].values()), 0)} MiB, {lg['samples']} samples")
    return "\n".join(lines)


def device_section(results: dict) -> str:
    """The generated Markdown of one run (one device)."""
    m = results["machine"]
    cfg = results["config"]
    t = results["targets"]
    from benchmarks.machine import machine_line

    out = [f"## Results on {cfg['device'].upper()} (generated by benchmarks.run)", ""]
    out.append(f"- Command: `{results['command']}`")
    out.append(f"- Date: {m['date']}; the whole run took {_f(results.get('total_s', float('nan')) / 60, 1)} min.")
    out.append(f"- Machine: {machine_line(m)}.")
    la0, la1 = m.get("load_average"), m.get("load_average_end")
    shares = [r["fit"]["fit_cpu_s"] / r["fit"]["fit_s"] for r in results["assets"].values()
              if "error" not in r and r.get("fit", {}).get("fit_s") and r["fit"].get("fit_cpu_s") is not None]
    share = f"; the fits used {_f(float(np.mean(shares)), 2)} CPU cores on average (CPU s / wall s of the steps)" if shares else ""
    out.append(f"- Load: load average (1/5/15 min) {la0} at the start and {la1} at the end{share}. "
               "The cores are shared with other work, so wall times are pessimistic.")
    first = next((r for r in results["assets"].values() if "fit" in r and r["fit"].get("config")), None)
    if first:
        fc = first["fit"]["config"]
        iters = "" if cfg.get("iters") is None else f" or {cfg['iters']} steps"
        out.append(
            f"- Fit: FitConfig defaults with a {_f(cfg['time_budget'], 0)} s budget of steps"
            f"{iters}: textures {fc['texture_resolution']}^2, environment "
            f"{fc['env_height']}x{2 * fc['env_height']}, batch {fc['batch_size']} pixels, loss space {fc['loss_space']}, "
            f"AO {fc['ao_rays']} rays/vertex, {cfg.get('threads') or m['cores_usable']} torch thread(s)."
        )
    targets = (f"Targets: relighting PSNR (aligned, mean of the relight HDRIs) >= {t['relight_psnr_aligned']:g} dB and albedo "
               f"PSNR (aligned) >= {t['albedo_psnr_aligned']:g} dB within {t['fit_seconds']:g} s of fitting on 2 CPU cores.")
    out += ["", targets, ""]
    out += ["| Asset | Relighting PSNR al. | target | Albedo PSNR al. | target | Fit (steps) | target | Setup + load | Peak memory | Oracle relighting PSNR al. |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for asset, r in results["assets"].items():
        if "error" in r:
            out.append(f"| {asset} | failed: {r['error']} | | | | | | | | |")
            continue
        s, f = r["scores"], r["fit"]
        rp, ap = _mean_relight(s, "ours"), s["materials"]["ours"]["albedo"]["psnr_aligned"]
        out.append(
            f"| {asset} | {_f(rp)} dB | {_met(rp, t['relight_psnr_aligned'])} | {_f(ap)} dB | {_met(ap, t['albedo_psnr_aligned'])} | "
            f"{_f(f.get('fit_s'), 0)} s ({f.get('steps')} steps, {_f(f.get('ms_per_step'), 0)} ms each) | "
            f"{_met(f.get('fit_s'), t['fit_seconds'] * 1.02, higher=False)} | {_f(f.get('setup_s'), 0)} + {_f(f.get('load_s'), 0)} s | "
            f"{_f(_peak(r) / 1024, 2)} GiB | {_f(_mean_relight(s, 'oracle'))} dB |"
        )
    for asset, r in results["assets"].items():
        if "error" not in r:
            out += ["", *asset_table(asset, r)]
    return "\n".join(out) + "\n"


def _starts_sentence(starts: dict | None) -> str:
    """' Starting metallic 0.6 / 0.45: validation loss 0.0158 / 0.0158; kept 0.6.' (FitConfig.metallic_trials)."""
    if not starts or len(starts.get("starts") or []) < 2 or starts.get("kept") is None:
        return ""
    values = " / ".join(f"{m:g}" for m in starts["starts"])
    losses = " / ".join(_f(x, 5) for x in starts["validation_losses"])
    return f" Starting metallic {values}: validation loss {losses}; kept {starts['kept']:g}."


def asset_table(asset: str, r: dict) -> list[str]:
    s = r["scores"]
    train, relights = s["lightings"]["train"], s["lightings"]["relight"]
    lights = [train, *relights]
    head = ["Row"] + [f"{_short(l)}{' (train)' if l == train else ''} raw / al." for l in lights]
    head += ["relight mean al.", "SSIM al.", "albedo PSNR al.", "rough. MAE", "metal. MAE"]
    out = [f"### {asset}", ""]
    f, mem = r.get("fit", {}), r.get("memory", {})
    phases = ", ".join(f"{k} {_f(v['rss_peak_mib'] / 1024, 2)} GiB" for k, v in mem.items())
    out.append(
        f"{f.get('views')} views, {f.get('samples')} fitted pixels; {f.get('steps')} steps in {_f(f.get('fit_s'), 0)} s "
        f"({_f(f.get('fit_cpu_s'), 0)} CPU s), setup {_f(f.get('setup_s'), 0)} s, load {_f(f.get('load_s'), 0)} s; "
        f"final batch PSNR {_f(f.get('batch_psnr'))} dB (training pixels, sRGB). Peak memory by phase: {phases}. "
        f"Scored: {s['test_views']} test views, ~{_f(s['scored_pixels_per_view'], 0)} pixels each; "
        f"G-buffer vs AOV coverage IoU {_f(s['coverage_iou'], 4)}."
        + _starts_sentence(f.get("metallic_starts"))
        + (" The capture has no `up` in transforms.json, so Relit loaded it +Z-up; scoring turns the ground-truth lighting to match."
           if r.get("capture_world_turned") else "")
    )
    out += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    mats = s["materials"]
    for row, label in ROWS.items():
        rel = s["relight"][row]
        cells = [label] + [f"{_f(rel[l]['psnr'])} / {_f(rel[l]['psnr_aligned'])}" for l in lights]
        key = "psnr" if row == "ours_rescaled" else "psnr_aligned"
        cells += [_f(_mean_relight(s, row, key)), _f(float(np.mean([rel[l]["ssim_aligned"] for l in relights])), 3)]
        if row == "ours":
            mm = mats["ours"]
            cells += [_f(mm["albedo"]["psnr_aligned"]), _f(mm["roughness_mae"], 3), _f(mm["metallic_mae"], 3)]
        else:
            cells += ["", "", ""]
        out.append("| " + " | ".join(cells) + " |")
    rec = s["relight"]["ours"].get("recovered")
    if rec:
        cells = ["ours under its recovered light (novel views)", f"{_f(rec['psnr'])} / {_f(rec['psnr_aligned'])}"]
        out.append("| " + " | ".join(cells + [""] * (len(head) - 2)) + " |")
    g = mats["gt_at_fit_res"]
    res = s.get("texture_resolution")
    cells = [f"GT maps at {res}^2 (texture-size ceiling)"] + [""] * (len(lights) + 2)
    cells += [_f(g["albedo"]["psnr_aligned"]), _f(g["roughness_mae"], 3), _f(g["metallic_mae"], 3)]
    out.append("| " + " | ".join(cells) + " |")
    figs = [Path(p) for p in r.get("figures", [])]
    if figs:
        out += ["", "Figures: " + ", ".join(f"`{p.parent.name}/{p.name}`" for p in figs) + " (under the results folder)."]
    return out


def lego_section(results: dict) -> str:
    lg = results.get("lego")
    if not lg:
        return ""
    out = ["## Memory of a large capture (generated by benchmarks.run)", ""]
    if "error" in lg:
        return "\n".join(out + [f"Failed: {lg['error']}", ""]) + "\n"
    mem = lg["memory"]
    out.append(
        f"`{lg['capture']}`: {lg['views']} views at {lg['resolution'][0]}x{lg['resolution'][1]}, masks from alpha, on the CPU. "
        f"Mesh: {lg['mesh']}. The capture has no mesh, so the fit's quality here means nothing; its memory is that of a real "
        f"fit: {lg['samples']} fitted pixels (the capture has {lg['mask_pixels']} fully masked pixels; a fitted pixel must also "
        f"be covered by the mesh and not on its silhouette). Load average at the start {lg.get('load_average_start')}."
    )
    if lg.get("command"):
        out += ["", f"Command: `{lg['command']}` ({lg.get('date', '')})."]
    out += ["", "| Phase | Peak RSS | RSS after | Wall | CPU |", "|---|---|---|---|---|"]
    names = {"load": "load capture + decode all views", "setup": "UVs, AO, rasterize every view, sample table, init",
             "fit": f"{lg['steps']} fit steps ({_f(lg.get('ms_per_step'), 0)} ms each)"}
    for k, v in mem.items():
        out.append(f"| {names.get(k, k)} | {_f(v['rss_peak_mib'] / 1024, 2)} GiB | {_f(v['rss_end_mib'] / 1024, 2)} GiB | "
                   f"{_f(v['wall_s'], 0)} s | {_f(v['cpu_s'], 0)} s |")
    return "\n".join(out) + "\n"


def _replace_block(text: str, key: str, body: str) -> str:
    begin, end = f"<!-- benchmarks.run:{key}:begin -->", f"<!-- benchmarks.run:{key}:end -->"
    block = f"{begin}\n{body}{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    return text.rstrip("\n") + "\n\n" + block + "\n"


def write_markdown(path: Path, results: dict, sections: tuple[str, ...] = ("device", "lego")) -> None:
    """Replace the run's generated blocks named in `sections` in `path`
    (created with the hand-written intro when missing); other text is kept."""
    from models.files import atomic_write_text

    path = Path(path)
    text = path.read_text() if path.is_file() else INTRO
    if "device" in sections and results["assets"]:
        text = _replace_block(text, results["config"]["device"].split(":")[0], device_section(results))
    if "lego" in sections and results.get("lego"):
        text = _replace_block(text, "lego-memory", lego_section(results))
    atomic_write_text(path, text)
