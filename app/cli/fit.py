"""Fit material maps (albedo, roughness, metallic) and the environment light
to a capture with a mesh, and save the result as a scene folder
(scene.glb, environment.hdr, scene.json).

Ctrl+C stops the fit cleanly and still writes the scene fitted so far
(a second Ctrl+C aborts at once)."""

from __future__ import annotations

import argparse
import platform
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

from models.errors import RelitError
from models.fit_config import FitConfig

HELP = "fit materials and light to a capture and save a scene"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("capture", help="capture folder (or its transforms.json); it must contain a mesh")
    parser.add_argument("--out", required=True, metavar="SCENE", help="folder to write the scene into")
    parser.add_argument("--device", default=None, help="torch device: cpu, cuda, cuda:1 (default: cuda when present)")
    parser.add_argument("--iters", type=int, default=None, metavar="N", help="optimiser steps (default 3000)")
    parser.add_argument("--time-budget", type=float, default=None, metavar="S",
                        help="stop after S seconds of fitting (with no --iters, the budget alone ends the fit)")
    parser.add_argument("--texture-res", type=int, default=None, metavar="R", help="material map size (default 256)")
    parser.add_argument("--env-res", type=int, default=None, metavar="H",
                        help="rows of the recovered environment map (columns: 2H; default 64)")
    parser.add_argument("--batch", type=int, default=None, metavar="N", help="pixels per step (default 8192)")
    parser.add_argument("--downscale", type=int, default=1, metavar="N", help="fit on images shrunk N times")
    parser.add_argument("--max-views", type=int, default=None, metavar="N", help="use at most N views")
    parser.add_argument("--metallic-starts", default=None, metavar="M[,M...]",
                        help="starting metallic values, each fitted from scratch with an equal share of the steps "
                             "and time, the one that matches the photos best kept (default 0.6,0.45; one value "
                             "fits once)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="CPU threads for torch (default 1 on the CPU: a step's tensors are small, and "
                             "more threads were several times slower on 2 shared cores)")
    parser.add_argument("--reconstruction", choices=("full", "fast"), default="full",
                        help="when the capture has no mesh: geometry settings (fast: small grids, for previews)")
    parser.add_argument("--checkpoint", default=None, metavar="FILE", help="also save a resumable checkpoint here")
    parser.add_argument("--resume", default=None, metavar="FILE", help="continue from a checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> FitConfig:
    """The FitConfig the flags describe (defaults elsewhere)."""
    iterations = args.iters
    if iterations is None and args.time_budget is not None:
        iterations = 10**9  # the budget alone ends the fit
    config = FitConfig().with_overrides(
        iterations=iterations,
        time_budget_s=args.time_budget,
        texture_resolution=args.texture_res,
        env_height=args.env_res,
        batch_size=args.batch,
        downscale=args.downscale,
        max_views=args.max_views,
        seed=args.seed,
        device=args.device,
        threads=args.threads,
    )
    if args.metallic_starts is not None:
        starts = _metallic_starts(args.metallic_starts)
        config = replace(config, initial_metallic=starts[0], metallic_trials=starts[1:])
    return config.validate()


def _metallic_starts(text: str) -> tuple[float, ...]:
    """'0.6,0.45' -> (0.6, 0.45) (FitConfig.validate checks the range)."""
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise RelitError(None, f"--metallic-starts {text!r}: expected numbers separated by commas, e.g. 0.6,0.45") from None


def run(args: argparse.Namespace) -> int:
    from models.capture import load_capture
    from models.fit_geometry import fit_config_for_geometry
    from models.fitter import Fitter, json_safe, views_from_capture
    from models.scene_io import save_scene

    config = config_from_args(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise RelitError(out, "exists and is not a folder")
    _check_device(config)
    started = time.perf_counter()
    capture = load_capture(args.capture, downscale=config.downscale)
    mesh = capture.load_mesh()
    if mesh is None:
        _say(args, f"relit fit: {capture.root} ({capture.layout}, {len(capture.views)} views) has no mesh; "
                   "reconstructing it from the photos")
        mesh = reconstruct_mesh(args, capture, config)
        config = fit_config_for_geometry(config, args.reconstruction == "fast")
    else:
        _say(args, f"relit fit: {capture.root} ({capture.layout}, {len(capture.views)} views), "
                   f"mesh {capture.mesh_path.name}")
    views = views_from_capture(capture, config)
    load_s = time.perf_counter() - started

    bar = _ProgressBar(args.quiet)
    fitter = Fitter(views, mesh, config, on_progress=bar.update)
    _say(args, "relit fit: preparing (UVs, ambient occlusion, G-buffers)...")
    fitter.setup()
    if args.resume:
        fitter.load_checkpoint(args.resume)
        _say(args, f"relit fit: resumed at step {fitter.step_count}")
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum, frame):  # first Ctrl+C: stop cleanly; second: abort
        fitter.cancel()
        signal.signal(signal.SIGINT, previous if callable(previous) else signal.default_int_handler)

    in_main = _in_main_thread()
    if in_main:
        signal.signal(signal.SIGINT, on_interrupt)
    try:
        scene = fitter.run()
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
        bar.close()
    if args.checkpoint:
        fitter.save_checkpoint(args.checkpoint)
    metadata = dict(scene.metadata)
    metadata["fit"] = dict(metadata.get("fit", {}))
    metadata["fit"]["capture"] = str(capture.root)
    metadata["fit"]["timings"] = dict(metadata["fit"].get("timings", {}), load_s=round(load_s, 3),
                                      total_s=round(time.perf_counter() - started, 3))
    metadata["versions"] = versions()
    metadata["command"] = " ".join(sys.argv)
    save_scene(replace(scene, metadata=json_safe(metadata)), out)
    losses = ", ".join(f"{k} {v:.4g}" for k, v in fitter.last_losses.items())
    _say(args, f"relit fit: {fitter.state} after {fitter.step_count} steps in {fitter.elapsed_s:.1f} s "
               f"({1000 * fitter.elapsed_s / max(fitter.step_count, 1):.1f} ms/step, setup {fitter.setup_s:.1f} s); "
               f"batch PSNR {fitter.last_psnr:.2f} dB; {losses}")
    if fitter.kept_start is not None:
        starts = fitter.config.metallic_starts
        scores = ", ".join(f"{m:g}: {loss:.4g}" for m, loss in zip(starts, fitter.start_losses))
        _say(args, f"relit fit: kept the fit from starting metallic {starts[fitter.kept_start]:g} "
                   f"(validation loss, photometric + priors, by start: {scores})")
    _say(args, f"relit fit: wrote {out}")
    return 0


def reconstruct_mesh(args: argparse.Namespace, capture, config: FitConfig):  # noqa: ANN001, ANN201 - Capture -> Mesh
    """Geometry from the photos (models.reconstruction) with a progress bar;
    the first Ctrl+C stops it and keeps the mesh of the current grid."""
    import threading

    from tqdm import tqdm

    from models.fit_geometry import reconstruct_for_fit

    cancel = threading.Event()
    bar = tqdm(total=1, unit="step", desc="reconstruct", disable=args.quiet, dynamic_ncols=True)

    def progress(p) -> None:  # noqa: ANN001 - ReconstructionProgress
        bar.total = max(p.total_steps, 1)
        bar.n = p.step
        bar.set_postfix_str(f"{p.stage}, loss {p.loss:.4g}", refresh=True)

    previous = signal.getsignal(signal.SIGINT)
    in_main = _in_main_thread()
    if in_main:
        signal.signal(signal.SIGINT, lambda *_: cancel.set())
    try:
        mesh = reconstruct_for_fit(capture, config.resolved_device(), args.reconstruction == "fast",
                                   progress, cancel.is_set)
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
        bar.close()
    _say(args, f"relit fit: reconstructed {len(mesh.faces)} triangles"
               + (" (stopped early by Ctrl+C)" if cancel.is_set() else ""))
    return mesh


def versions() -> dict[str, str]:
    """Versions of Relit and the libraries that shaped the result."""
    import numpy
    import torch

    try:
        from importlib.metadata import version

        relit = version("relit")
    except Exception:
        relit = "unknown"
    return {"relit": relit, "python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__}


class _ProgressBar:
    """tqdm over steps, fed by FitProgress snapshots."""

    def __init__(self, quiet: bool):
        self.bar = None
        self.quiet = quiet

    def update(self, p) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=p.total_steps, unit="step", dynamic_ncols=True, file=sys.stderr, initial=p.step)
        self.bar.total = p.total_steps
        self.bar.n = p.step
        start = f"start {p.start + 1}/{p.starts} " if p.starts > 1 else ""
        self.bar.set_postfix_str(f"{start}loss {p.total:.4g} psnr {p.psnr:.2f}dB {p.state}", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _check_device(config: FitConfig) -> None:
    import torch

    device = config.resolved_device()
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RelitError(None, f"device {device} requested but CUDA is not available (use --device cpu)")
    try:
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError) as exc:
        raise RelitError(None, f"device {device} cannot be used ({exc})") from exc


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)
