"""Marching cubes at the SDF's zero level, and checks that the result is a
closed, outward-facing surface.

scikit-image's Lewiner variant resolves the ambiguous cube configurations
consistently, so a level set that does not touch the grid's border yields a
watertight mesh; the grid is padded with "outside" values so it never does.
Nodes exactly at the level are nudged off it so no triangle degenerates.
"""

from __future__ import annotations

import numpy as np
import trimesh


def marching_cubes(sdf: np.ndarray, half_size: float, level: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Zero-level surface of `sdf` (R, R, R) indexed [z, y, x] over the cube
    [-half_size, half_size]^3 -> vertices (V, 3) float64 (x, y, z) and faces
    (F, 3) int64 wound counter-clockwise seen from outside (negative inside)."""
    from skimage.measure import marching_cubes as skimage_mc

    sdf = np.asarray(sdf, np.float64) - level
    r = sdf.shape[0]
    voxel = 2.0 * half_size / (r - 1)
    if not (sdf < 0).any() or not (sdf > 0).any():
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64)
    tiny = 1e-7 * voxel
    sdf = np.where(np.abs(sdf) < tiny, np.where(sdf < 0, -tiny, tiny), sdf)
    padded = np.pad(sdf, 1, constant_values=max(float(sdf.max()), voxel))
    verts, faces, _, _ = skimage_mc(padded, 0.0, allow_degenerate=True)
    # (z, y, x) index space of the padded grid -> (x, y, z) world.
    verts = (verts[:, ::-1] - 1.0) * voxel - half_size
    faces = faces.astype(np.int64)
    if signed_volume(verts, faces) < 0:
        faces = faces[:, ::-1].copy()
    return verts, faces


def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Volume enclosed by a closed mesh; positive when its faces wind
    counter-clockwise seen from outside (normals point outward)."""
    if len(faces) == 0:
        return 0.0
    p = np.asarray(vertices, np.float64)[faces]
    return float(np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])).sum() / 6.0)


def is_watertight(vertices: np.ndarray, faces: np.ndarray) -> bool:
    """Every edge shared by exactly two faces, wound consistently."""
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    return bool(mesh.is_watertight and mesh.is_winding_consistent)
