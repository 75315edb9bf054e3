"""Captures without masks: the object is recovered from photos with a
background, integrating only inside the bounding sphere and explaining the
rest with background shells; the occupancy comes from a density fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.reconstruction import synthetic
from models.reconstruction.config import ReconstructionConfig
from models.reconstruction.density import fit_foreground
from models.reconstruction.marching import is_watertight, signed_volume
from models.reconstruction.reconstruct import reconstruct_views
from models.reconstruction.sdf_grid import GridSpec
from models.reconstruction.views import RaySet
from models.reconstruction.volume_render import Background

OBJECT = synthetic.sphere(0.45, (0.15, -0.1, 0.0))  # off the centre of the region


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _background(d: np.ndarray) -> np.ndarray:
    """A colourful environment at infinity."""
    return 0.5 + 0.4 * np.sin(np.stack([5 * d[:, 0] + 2 * d[:, 1], 7 * d[:, 1] - 3 * d[:, 2], 4 * d[:, 2] + 5 * d[:, 0]], -1))


@pytest.fixture(scope="module")
def views() -> synthetic.SyntheticViews:
    return synthetic.render_views(OBJECT, synthetic.ring_cameras(16, 64), background=_background)


def test_foreground_estimate_keeps_the_object_and_clears_the_rest(views) -> None:
    rays = RaySet.build(views.cameras, views.images, None, keep_missing=True)
    spec = GridSpec(40, 1.1)
    background = Background(8, 32, 64, 16.0, torch.tensor([0.0, 1.0, 0.0]))
    occupied = fit_foreground(rays, spec, background, ReconstructionConfig.fast().foreground, 2048).occupied
    truth = OBJECT(spec.node_positions().double().numpy()) < 0
    assert occupied[truth].all()  # every node inside the object is kept
    # What is kept beyond it is a thin layer (at most about one voxel deep).
    assert (occupied & ~truth).sum() < 0.3 * truth.sum()
    beyond = OBJECT(spec.node_positions().double().numpy()[occupied])
    assert np.percentile(beyond, 95) < spec.voxel and beyond.max() < 3 * spec.voxel


def test_object_is_reconstructed_without_masks(views) -> None:
    config = ReconstructionConfig.fast()
    result = reconstruct_views(views.cameras, views.images, None, (np.zeros(3), 1.0), config)
    mesh = result.mesh
    assert is_watertight(mesh.vertices, mesh.faces)
    p = mesh.vertices.astype(np.float64)
    assert np.abs(OBJECT(p)).mean() < 0.01  # on the surface, to 1% of the region's radius
    volume = 4 / 3 * np.pi * 0.45**3
    assert signed_volume(mesh.vertices, mesh.faces) == pytest.approx(volume, rel=0.05)
