"""Triangle meshes as plain arrays."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Mesh:
    """An indexed triangle mesh.

    vertices (V,3) float32 world positions; faces (F,3) int32; normals (V,3)
    float32 unit vertex normals; uv (V,2) float32 texture coordinates with
    v = 0 at the *bottom* of the texture (glTF stores v flipped; loaders and
    exporters convert) or None before unwrapping; ao (V,) float32 baked
    ambient occlusion in [0,1] (1 = unoccluded) or None before baking.
    """

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    uv: np.ndarray | None = None
    ao: np.ndarray | None = None

    @staticmethod
    def from_arrays(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray | None = None) -> "Mesh":
        """Build a mesh, computing area-weighted vertex normals."""
        v = np.ascontiguousarray(vertices, np.float32)
        f = np.ascontiguousarray(faces, np.int32)
        return Mesh(v, f, vertex_normals(v, f), None if uv is None else np.ascontiguousarray(uv, np.float32))

    @property
    def bounds(self) -> np.ndarray:
        """(2,3) min and max corners."""
        return np.stack([self.vertices.min(0), self.vertices.max(0)])

    def bounding_sphere(self) -> tuple[np.ndarray, float]:
        """Centre of the bounding box and the radius that encloses every vertex."""
        c = self.bounds.mean(0).astype(np.float64)
        return c, float(np.linalg.norm(self.vertices - c, axis=1).max())

    def with_ao(self, ao: np.ndarray) -> "Mesh":
        return replace(self, ao=np.ascontiguousarray(ao, np.float32))


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (zero-area neighbourhoods get +Y)."""
    tri = vertices[faces].astype(np.float64)
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n = np.zeros((len(vertices), 3), np.float64)
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    n = np.where(length > 1e-20, n / np.maximum(length, 1e-20), np.array([0.0, 1.0, 0.0]))
    return n.astype(np.float32)
