"""Immutable progress snapshots of a fit, safe to hand to another thread.

The fitter builds one every `FitConfig.progress_every` steps (and at the end)
and passes it to its callback; the GUI's worker forwards it to the main
thread. Nothing in a snapshot refers back to live tensors: the maps are
small numpy copies, marked read-only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Mapping

import numpy as np

FitState = Literal["setup", "running", "paused", "cancelled", "finished"]


def _frozen(a: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return None
    a = np.array(a, np.float32, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class FitPreview:
    """Small copies of the current maps: albedo (P,P,3) linear, roughness and
    metallic (P,P), environment (h,w,3) linear radiance; all float32, read-only."""

    albedo: np.ndarray
    roughness: np.ndarray
    metallic: np.ndarray
    environment: np.ndarray

    @staticmethod
    def of(albedo: np.ndarray, roughness: np.ndarray, metallic: np.ndarray, environment: np.ndarray) -> "FitPreview":
        return FitPreview(_frozen(albedo), _frozen(roughness), _frozen(metallic), _frozen(environment))


@dataclass(frozen=True)
class FitProgress:
    """Where a fit stands after `step` of `total_steps` optimiser steps.

    `losses` maps each term ('l1', 'ssim', 'albedo_smoothness', ...) to its
    weighted value at this step; `total` is their sum; `psnr` is of the
    step's pixel batch in display space (dB); `elapsed_s` excludes paused
    time; `eta_s` estimates the time left (by steps or by the time budget,
    whichever ends the fit first).
    """

    step: int
    total_steps: int
    losses: Mapping[str, float]
    total: float
    psnr: float
    elapsed_s: float
    eta_s: float
    state: FitState = "running"
    preview: FitPreview | None = None
    message: str = ""
    learning_rate_scale: float = 1.0
    seconds_per_step: float = field(default=math.nan)
    stage: str = "materials"
    """"geometry" while a mesh-less capture is reconstructed (steps -N..0,
    see models.fit_geometry), then "materials"."""
    start: int = 0
    """Which of the fit's `starts` starting metallic values is being fitted
    (FitConfig.metallic_trials); the best is kept at the end."""
    starts: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "losses", MappingProxyType(dict(self.losses)))

    @property
    def fraction(self) -> float:
        """Progress of the current stage in [0, 1] by steps."""
        step = self.step + self.total_steps if self.stage == "geometry" else self.step
        return 1.0 if self.total_steps <= 0 else min(1.0, max(0.0, step / self.total_steps))
