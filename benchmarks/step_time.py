"""Fitter step time: `python -m benchmarks.step_time CAPTURE [--batch N ...] [--threads N] [--set KEY=VALUE]`.

Times the Fitter's optimiser steps on a capture (e.g. bench-out/DamagedHelmet
or resources/sample_capture) with the default FitConfig, lobe refreshes off
so every timed step is the same work: some warm-up steps, then the mean wall
time of the timed ones, for each batch size asked. On a CPU the 300 s
benchmark fits are short of steps, so this is the figure that says whether
a change to the step pays before a 30-minute benchmark run.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace

import torch

from benchmarks.run import apply_settings
from models.capture import load_capture
from models.fit_config import FitConfig
from models.fitter import Fitter, mesh_from_capture, views_from_capture


@dataclass(frozen=True)
class StepTime:
    batch_size: int
    steps: int
    ms_per_step: float


def time_steps(capture_path: str, batch_sizes: list[int], warmup: int = 20, steps: int = 100,
               threads: int = 2, settings: tuple[str, ...] = ()) -> list[StepTime]:
    """Mean ms per step on the capture, one per batch size (one Fitter, set
    up once: the batch size only decides how many pixels a step draws)."""
    torch.set_num_threads(threads)
    capture = load_capture(capture_path)
    config = FitConfig(iterations=1 << 30, threads=threads, device="cpu", lobe_refreshes=0)
    config = FitConfig.from_dict(apply_settings(config.to_dict(), settings)).validate()
    fitter = Fitter(views_from_capture(capture, config), mesh_from_capture(capture), config)
    fitter.setup()
    results = []
    for batch in batch_sizes:
        fitter.config = replace(config, batch_size=batch).validate()
        for _ in range(warmup):
            fitter.step()
        start = time.perf_counter()
        for _ in range(steps):
            fitter.step()
        results.append(StepTime(batch, steps, 1000.0 * (time.perf_counter() - start) / steps))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", help="capture folder (transforms.json + images + mesh)")
    parser.add_argument("--batch", type=int, nargs="+", default=[FitConfig().batch_size], help="pixels per step")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="override a FitConfig field (dotted, JSON value), as benchmarks.run --set")
    args = parser.parse_args(argv)
    print(f"| batch | ms per step ({args.threads} thread(s), {args.steps} steps after {args.warmup}) |")
    print("|---:|---:|")
    for row in time_steps(args.capture, args.batch, args.warmup, args.steps, args.threads, tuple(args.settings)):
        print(f"| {row.batch_size} | {row.ms_per_step:.1f} |")


if __name__ == "__main__":
    main()
