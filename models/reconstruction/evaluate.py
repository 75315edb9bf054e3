"""Geometry metrics against a known surface: Chamfer distance and normal
angular error (the benchmark's scores for reconstruction)."""

from __future__ import annotations

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from models.mesh import Mesh


def sample_surface(mesh: Mesh, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Area-uniform points (N, 3) on `mesh` and their face normals (N, 3)."""
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    points, face = trimesh.sample.sample_surface(tm, count, seed=seed)
    return np.asarray(points), np.asarray(tm.face_normals[face])


def chamfer(points_a: np.ndarray, points_b: np.ndarray) -> float:
    """Symmetric Chamfer distance: the mean of the two mean nearest-neighbour
    distances (same units as the points)."""
    d_ab, _ = cKDTree(points_b).query(points_a)
    d_ba, _ = cKDTree(points_a).query(points_b)
    return 0.5 * (float(d_ab.mean()) + float(d_ba.mean()))


def normal_error_deg(
    points: np.ndarray, normals: np.ndarray, ref_points: np.ndarray, ref_normals: np.ndarray
) -> float:
    """Mean angle in degrees between each point's normal and the normal of its
    nearest reference point, both ways (orientation matters)."""

    def one_way(p, n, q, m):
        _, idx = cKDTree(q).query(p)
        cos = np.clip((n * m[idx]).sum(-1), -1, 1)
        return np.degrees(np.arccos(cos))

    a = one_way(points, normals, ref_points, ref_normals)
    b = one_way(ref_points, ref_normals, points, normals)
    return float(0.5 * (a.mean() + b.mean()))


def compare(mesh: Mesh, reference: Mesh, count: int = 100_000, seed: int = 0) -> dict[str, float]:
    """Chamfer and normal error of `mesh` against `reference`, with Chamfer
    also relative to the reference's bounding radius."""
    p, n = sample_surface(mesh, count, seed)
    q, m = sample_surface(reference, count, seed + 1)
    _, radius = reference.bounding_sphere()
    c = chamfer(p, q)
    return {"chamfer": c, "chamfer_rel": c / radius, "normal_deg": normal_error_deg(p, n, q, m)}
