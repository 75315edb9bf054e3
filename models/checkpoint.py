"""Fit checkpoints: plain tensors and JSON text, saved with torch.save and read
back with torch.load(weights_only=True) only (no pickled code runs on load).

Layout of the saved dict:
    format      "relit-fit-checkpoint"
    version     1
    config      FitConfig as JSON text
    step        int, optimiser steps done
    elapsed_s   float, fitting time spent (excluding pauses)
    params      {name: tensor} the fitted parameters (cpu)
    optimizer   the optimiser's state_dict (tensors, numbers, lists)
    rng         the pixel sampler's generator state (uint8 tensor)
    extra       {name: tensor} anything else the fitter wants back (e.g. UVs)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from models.errors import RelitError
from models.files import atomic_path
from models.fit_config import FitConfig

FORMAT = "relit-fit-checkpoint"
VERSION = 1


class CheckpointError(RelitError):
    """A checkpoint file cannot be read or does not fit this fit."""


@dataclass(frozen=True)
class Checkpoint:
    """The restored content of a checkpoint file."""

    config: FitConfig
    step: int
    elapsed_s: float
    params: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    rng: torch.Tensor | None
    extra: dict[str, torch.Tensor]


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def save_checkpoint(path: str | Path, checkpoint: Checkpoint) -> None:
    """Write `checkpoint` to `path` atomically."""
    path = Path(path)
    data = {
        "format": FORMAT,
        "version": VERSION,
        "config": json.dumps(checkpoint.config.to_dict()),
        "step": int(checkpoint.step),
        "elapsed_s": float(checkpoint.elapsed_s),
        "params": _to_cpu(checkpoint.params),
        "optimizer": _to_cpu(checkpoint.optimizer),
        "rng": None if checkpoint.rng is None else checkpoint.rng.cpu().clone(),
        "extra": _to_cpu(checkpoint.extra),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temp:
        torch.save(data, temp)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint (weights_only: tensors and plain data only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "checkpoint file not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises assorted errors for foreign files
        raise CheckpointError(path, f"not a readable checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(path, "not a Relit fit checkpoint")
    if data.get("version") != VERSION:
        raise CheckpointError(path, f"unsupported checkpoint version {data.get('version')!r} (expected {VERSION})")
    try:
        config = FitConfig.from_dict(json.loads(data["config"]))
        return Checkpoint(
            config=config,
            step=int(data["step"]),
            elapsed_s=float(data["elapsed_s"]),
            params=dict(data["params"]),
            optimizer=data["optimizer"],
            rng=data.get("rng"),
            extra=dict(data.get("extra") or {}),
        )
    except (KeyError, TypeError, ValueError, RelitError) as exc:
        raise CheckpointError(path, f"incomplete or invalid checkpoint ({exc})") from exc
