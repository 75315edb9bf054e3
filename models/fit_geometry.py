"""The geometry a fit stands on: the capture's own mesh, or one reconstructed
from its photos first (issue 6). Shared by `main.py fit` and the GUI's fit
worker so both reconstruct the same way."""

from __future__ import annotations

import math
from collections.abc import Callable

from models.fit_config import FitConfig
from models.fit_progress import FitProgress
from models.mesh import Mesh

RECONSTRUCTION_SIZE = 256
"""Long side (pixels) of the photos geometry is reconstructed from; the
materials are then fitted at the fit's own photo size."""


def reconstruct_for_fit(
    capture,  # noqa: ANN001 - models.capture.Capture
    device: str = "cpu",
    fast: bool = False,
    progress: Callable | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Mesh:
    """A mesh reconstructed from `capture`'s photos, read at about
    RECONSTRUCTION_SIZE pixels. `fast` uses small grids (previews, tests);
    `progress` receives ReconstructionProgress snapshots; when `cancel()`
    turns true the mesh of the current grid is returned."""
    from models.capture import load_capture
    from models.reconstruction import ReconstructionConfig, reconstruct

    long_side = max(max(v.camera.width, v.camera.height) for v in capture.views)
    factor = max(1, round(long_side / RECONSTRUCTION_SIZE))
    small = load_capture(capture.root, downscale=capture.downscale * factor) if factor > 1 else capture
    preset = ReconstructionConfig.fast() if fast else ReconstructionConfig()
    return reconstruct(small, preset.with_(device=device), progress, cancel)


def fit_config_for_geometry(config: FitConfig, fast: bool) -> FitConfig:
    """The fit's settings on a reconstructed mesh: with fast (preview)
    geometry the mesh is not subdivided before the AO bake. Its ~5000
    faces are baked as they are: subdivided to FitConfig.ao_max_edge they
    became ~50000, and their AO and visibility bakes took 38 s of a 45 s
    set-up on the bundled sample (2 cores), twice the preview's 20 s
    reconstruction; baked as they are, the set-up takes 3.5 s."""
    return config.with_overrides(ao_max_edge=0.0) if fast else config


def geometry_snapshot(progress) -> FitProgress:  # noqa: ANN001 - ReconstructionProgress
    """A reconstruction snapshot as a FitProgress for the loss plot: the
    geometry stage runs over steps -N..0, before the material fit's 1..M, and
    its terms are named "geometry <term>"."""
    return FitProgress(
        step=progress.step - progress.total_steps,
        total_steps=progress.total_steps,
        losses={f"geometry {name}": value for name, value in progress.losses.items()},
        total=progress.loss,
        psnr=math.nan,
        elapsed_s=progress.elapsed_s,
        eta_s=progress.eta_s,
        message=f"Geometry: {progress.stage}",
        stage="geometry",
    )
