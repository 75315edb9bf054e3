"""Pose refinement: a view whose pose is off by a small rotation and
translation is pulled back onto the others during reconstruction."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from models.camera import Camera
from models.reconstruction import synthetic
from models.reconstruction.config import PoseConfig, ReconstructionConfig
from models.reconstruction.poses import PoseRefinement, axis_angle_to_matrix
from models.reconstruction.reconstruct import reconstruct_views

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_axis_angle_matches_rodrigues_and_is_smooth_at_zero() -> None:
    from scipy.spatial.transform import Rotation

    omega = torch.tensor([[0.3, -0.2, 0.5], [1e-9, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    r = axis_angle_to_matrix(omega)
    expected = Rotation.from_rotvec(omega.detach().numpy()).as_matrix()
    assert np.allclose(r.detach().numpy(), expected, atol=1e-12)
    r.sum().backward()
    assert torch.isfinite(omega.grad).all()


def test_pose_refinement_moves_rays_as_the_corrected_camera_sees_them() -> None:
    cam = Camera.look_at(np.array([0.0, 0.5, 3.0]), np.zeros(3), np.array([0.0, 1.0, 0.0]), 8, 6, 0.8)
    poses = PoseRefinement(2)
    with torch.no_grad():
        poses.rotation[1] = torch.tensor([0.01, -0.02, 0.015])
        poses.translation[1] = torch.tensor([0.03, 0.0, -0.02])
    o, d = (torch.as_tensor(a.reshape(-1, 3), dtype=torch.float32) for a in cam.pixel_rays())
    o2, d2 = poses.apply(torch.ones(len(o), dtype=torch.int64), o, d)
    corrected = poses.corrected([cam, cam])[1]
    o3, d3 = (torch.as_tensor(a.reshape(-1, 3), dtype=torch.float32) for a in corrected.pixel_rays())
    assert torch.allclose(o2, o3, atol=1e-6) and torch.allclose(d2, d3, atol=1e-6)


def _reprojection_px(a: Camera, b: Camera, points: np.ndarray) -> float:
    return float(np.linalg.norm(a.project(points)[0] - b.project(points)[0], axis=1).mean())


def test_a_perturbed_view_is_recovered() -> None:
    f = synthetic.torus()
    cams = synthetic.ring_cameras(16, 64)
    views = synthetic.render_views(f, cams)
    # View 0 is off by 1.5 degrees about an oblique axis and 0.04 (1.3% of its
    # distance to the object) in an oblique direction: about 0.8 px.
    rng = np.random.default_rng(1)
    axis = rng.normal(size=3)
    shift = rng.normal(size=3)
    rot = axis_angle_to_matrix(torch.tensor(axis / np.linalg.norm(axis) * np.radians(1.5))).numpy()
    c2w = cams[0].c2w.copy()
    c2w[:3, :3] = rot @ c2w[:3, :3]
    c2w[:3, 3] += 0.04 * shift / np.linalg.norm(shift)
    given = [dataclasses.replace(cams[0], c2w=c2w)] + cams[1:]

    config = ReconstructionConfig.fast()
    config = config.with_(
        poses=PoseConfig(enabled=True, rotation_lr=1e-3, translation_lr=3e-4),
        hull=dataclasses.replace(config.hull, max_misses=1),  # the bad view must not carve the hull
    )
    result = reconstruct_views(given, views.images, views.masks, (np.zeros(3), 1.0), config)
    assert result.cameras is not None and len(result.cameras) == 16

    points = synthetic.surface_points(f, 2000)
    before = _reprojection_px(given[0], cams[0], points)
    after = _reprojection_px(result.cameras[0], cams[0], points)
    others = np.mean([_reprojection_px(result.cameras[i], cams[i], points) for i in range(1, 16)])
    assert before > 0.7
    assert after < 0.5 * before  # the bad view moved most of the way back
    assert others < 0.25 * before  # and the good ones stayed put
