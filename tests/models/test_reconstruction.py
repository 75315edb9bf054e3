"""End to end: a sphere and a torus, rendered exactly in the test, are
reconstructed from their photos to a known Chamfer bound; progress snapshots
and cancellation behave."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from models.capture import load_capture
from models.imageio import linear_to_srgb, save_png
from models.mesh import Mesh
from models.reconstruction import synthetic
from models.reconstruction.config import ReconstructionConfig
from models.reconstruction.evaluate import chamfer, sample_surface
from models.reconstruction.marching import is_watertight, signed_volume
from models.reconstruction.reconstruct import ReconstructionProgress, reconstruct, reconstruct_views


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These small grids gain little from a second thread, and a busy machine
    makes two threads wait on each other; one thread keeps the time steady."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _chamfer_to(mesh: Mesh, f: synthetic.SdfFn, seed: int = 0) -> float:
    """Symmetric Chamfer distance between `mesh` and the zero level of `f`:
    mesh samples measured by |f| (exact), surface samples by their nearest
    of many mesh samples."""
    p, _ = sample_surface(mesh, 200_000, seed)
    accuracy = float(np.abs(f(p)).mean())
    q = synthetic.surface_points(f, 20_000, seed=seed)
    completeness = chamfer(q, p) * 2 - chamfer(p, q)  # = mean distance q -> p
    return 0.5 * (accuracy + completeness)


def _write_capture(root: Path, views: synthetic.SyntheticViews) -> Path:
    """A NeRF-synthetic capture (RGBA PNGs, alpha = coverage) of `views`."""
    (root / "train").mkdir(parents=True)
    frames = []
    for i, (cam, image, mask) in enumerate(zip(views.cameras, views.images, views.masks)):
        rgba = np.concatenate([linear_to_srgb(np.clip(image, 0, 1)), mask[..., None]], -1)
        save_png(root / "train" / f"r_{i}.png", rgba)
        frames.append({"file_path": f"./train/r_{i}", "transform_matrix": cam.c2w.tolist()})
    doc = {"camera_angle_x": views.cameras[0].fov_x, "frames": frames}
    (root / "transforms_train.json").write_text(json.dumps(doc))
    return root


def test_sphere_capture_is_reconstructed_within_one_percent(tmp_path: Path) -> None:
    f = synthetic.sphere(0.6)
    views = synthetic.render_views(f, synthetic.ring_cameras(16, 64, fov_deg=45))
    capture = load_capture(_write_capture(tmp_path / "sphere", views))
    assert capture.mask_sources == {"alpha": 16} and capture.mesh_path is None
    snapshots: list[ReconstructionProgress] = []
    config = ReconstructionConfig.fast()
    mesh = reconstruct(capture, config, progress=snapshots.append)

    _, radius = capture.bounding_sphere()
    assert _chamfer_to(mesh, f) < 0.01 * radius
    assert is_watertight(mesh.vertices, mesh.faces) and signed_volume(mesh.vertices, mesh.faces) > 0
    assert len(mesh.faces) <= config.mesh.target_faces
    # Vertex normals point away from the centre.
    assert ((mesh.normals * mesh.vertices).sum(-1) > 0).mean() > 0.99

    stages = [s.stage for s in snapshots]
    assert stages[0] == "loading" and "visual hull" in stages and stages[-2:] == ["mesh", "done"]
    assert "refine 24^3" in stages and "refine 40^3" in stages
    refine = [s for s in snapshots if s.stage.startswith("refine")]
    assert [s.step for s in refine] == sorted(s.step for s in refine)
    assert refine[-1].step == config.total_steps and refine[-1].fraction == 1.0
    assert all(math.isfinite(s.loss) and s.eta_s >= 0 and s.elapsed_s > 0 for s in refine)
    assert refine[-1].loss < refine[0].loss
    with pytest.raises(dataclasses.FrozenInstanceError):
        refine[0].step = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        refine[0].losses["photometric"] = 0.0  # type: ignore[index]


def test_torus_hole_is_recovered_beyond_the_visual_hull() -> None:
    f = synthetic.torus()
    views = synthetic.render_views(f, synthetic.ring_cameras(16, 64, fov_deg=45))
    config = ReconstructionConfig.fast()
    sphere = (np.zeros(3), 1.0)
    no_refinement = config.with_(stages=(dataclasses.replace(config.stages[-1], steps=0),))
    hull_only = reconstruct_views(views.cameras, views.images, views.masks, sphere, no_refinement)
    result = reconstruct_views(views.cameras, views.images, views.masks, sphere, config)
    assert not result.cancelled
    hull_error, error = _chamfer_to(hull_only.mesh, f), _chamfer_to(result.mesh, f)
    assert error < 0.012  # of a bounding radius of 1
    assert error < 0.5 * hull_error  # photometric refinement carved what silhouettes cannot
    v, faces = result.mesh.vertices, result.mesh.faces
    assert is_watertight(v, faces)
    edges = np.unique(np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), 1), axis=0)
    assert len(v) - len(edges) + len(faces) == 0  # genus 1: the hole goes through


def test_cancel_stops_promptly_and_returns_the_current_mesh() -> None:
    f = synthetic.sphere(0.6)
    views = synthetic.render_views(f, synthetic.ring_cameras(12, 48, fov_deg=45))
    config = ReconstructionConfig.fast()
    polls = {"n": 0}

    def cancel() -> bool:
        polls["n"] += 1
        return polls["n"] > 70  # in the second stage

    states: list[str] = []
    result = reconstruct_views(views.cameras, views.images, views.masks, (np.zeros(3), 1.0), config,
                               progress=lambda s: states.append(s.stage), cancel=cancel)
    assert result.cancelled and states[-1] == "cancelled"
    assert result.timings["steps"] == 70  # stopped at the first poll that said so
    assert result.spec.resolution == config.stages[1].resolution
    assert is_watertight(result.mesh.vertices, result.mesh.faces)
    assert _chamfer_to(result.mesh, f) < 0.03
