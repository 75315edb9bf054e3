"""A coarse stand-in for very dense meshes, drawn while the user drags.

Software GL spends its time per vertex and per tiny triangle once a mesh has
about as many triangles as the viewport has pixels; interactive frames are
half resolution, so a 500k-triangle scan is mostly wasted work there.

Vertex clustering (Rossignac & Borrel 1993): vertices that share a grid cell
*and* a coarse UV cell *and* a normal octant merge into one (attributes
averaged); triangles that collapse are dropped. Keying on UV keeps texture
seams (vertices across a seam have distant UVs), keying on the normal keeps
the two sides of thin sheets apart. Still frames always draw the real mesh.
"""

from __future__ import annotations

import math

import numpy as np

from models.mesh import Mesh

UV_CELLS = 32
"""UV cells per unit: vertices further apart in UV than this never merge (seams stay)."""


def surface_area(mesh: Mesh) -> float:
    tri = mesh.vertices[mesh.faces].astype(np.float64)
    return float(0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum())


def cluster_decimate(mesh: Mesh, target_triangles: int) -> Mesh:
    """About `target_triangles` triangles (often fewer); `mesh` itself when it
    is already that small."""
    if len(mesh.faces) <= target_triangles:
        return mesh
    # A closed surface has ~F/2 vertices; a surface crosses ~1.6 grid cells of
    # side h per h^2 of its area (averaged over orientations), hence the factor.
    area = max(surface_area(mesh), 1e-12)
    cell = math.sqrt(1.6 * area / max(target_triangles / 2, 1))
    v = mesh.vertices.astype(np.float64)
    cells = np.floor((v - v.min(0)) / cell).astype(np.int64)
    key = cells[:, 0]
    for extent, column in ((cells[:, 1].max() + 1, cells[:, 1]), (cells[:, 2].max() + 1, cells[:, 2])):
        key = key * extent + column
    if mesh.uv is not None:
        uv = np.clip(np.floor(mesh.uv.astype(np.float64) * UV_CELLS), -UV_CELLS, 2 * UV_CELLS).astype(np.int64)
        key = (key * 3 * UV_CELLS + uv[:, 0] + UV_CELLS) * 3 * UV_CELLS + uv[:, 1] + UV_CELLS
    octant = (mesh.normals > 0).astype(np.int64) @ np.array([1, 2, 4])
    key = key * 8 + octant
    _, cluster = np.unique(key, return_inverse=True)
    cluster = cluster.reshape(-1)
    count = int(cluster.max()) + 1
    weight = np.bincount(cluster, minlength=count).astype(np.float64)

    def mean(values: np.ndarray) -> np.ndarray:
        values = values.reshape(len(values), -1).astype(np.float64)
        out = np.stack([np.bincount(cluster, values[:, k], minlength=count) for k in range(values.shape[1])], 1)
        return out / weight[:, None]

    faces = cluster[mesh.faces]
    keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    faces = faces[keep]
    # Drop duplicates (two triangles collapsed onto the same three clusters, same winding).
    _, first = np.unique(_canonical(faces), axis=0, return_index=True)
    faces = faces[np.sort(first)]

    normals = mean(mesh.normals)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    return Mesh(
        mean(mesh.vertices).astype(np.float32),
        faces.astype(np.int32),
        normals.astype(np.float32),
        None if mesh.uv is None else mean(mesh.uv).astype(np.float32),
        None if mesh.ao is None else mean(mesh.ao)[:, 0].astype(np.float32),
    )


def _canonical(faces: np.ndarray) -> np.ndarray:
    """Each triangle rotated so its smallest index comes first (winding kept)."""
    shift = np.argmin(faces, axis=1)
    idx = (np.arange(3)[None, :] + shift[:, None]) % 3
    return np.take_along_axis(faces, idx, axis=1)
