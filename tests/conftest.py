"""Shared fixtures: real data from ../shared/data, torch thread limits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RELIT_SHARED_DATA", REPO.parent / "shared" / "data"))
ARTIFACTS = REPO / "test-artifacts"


def pytest_configure(config: pytest.Config) -> None:
    """Two torch threads, split between pytest-xdist's workers when there
    are several (more threads than cores only makes them wait on each other)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    try:
        import torch

        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1) // workers))
    except ImportError:
        pass


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real HDRIs, assets, captures); skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} is absent (set RELIT_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Folder for screenshots and renders a person can look at after the run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
