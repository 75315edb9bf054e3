"""How many CPU cores this process may use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch


def usable_cores() -> int:
    """Cores this process may run on (affinity and cgroup CPU quota): what
    CPU-bound work (ray-casting bakes, benchmark threads) should spread over,
    rather than os.cpu_count(), which counts the host's cores."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    try:
        quota = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except OSError:
        quota = []
    if len(quota) == 2 and quota[0] != "max":
        cores = min(cores, max(1, round(int(quota[0]) / int(quota[1]))))
    return cores


@contextmanager
def all_cores() -> Iterator[None]:
    """Torch's CPU ops use every usable core inside the block, then the
    thread count is restored (the fitter steps on one thread, where small
    batches run fastest, but its one-off tables are large)."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(before, usable_cores()))
    try:
        yield
    finally:
        torch.set_num_threads(before)
