"""Flat midpoint subdivision keeps the surface and its attributes."""

from __future__ import annotations

import numpy as np
import trimesh

from models.mesh import Mesh
from models.mesh_subdivide import median_edge_length, subdivide, subdivide_for_ao, subdivision_levels


def _sphere() -> Mesh:
    tm = trimesh.creation.icosphere(subdivisions=1)
    uv = np.stack([tm.vertices[:, 0] * 0.5 + 0.5, tm.vertices[:, 1] * 0.5 + 0.5], 1)
    return Mesh.from_arrays(tm.vertices, tm.faces, uv)


def test_subdivide_keeps_the_surface_and_interpolates_attributes() -> None:
    mesh = _sphere().with_ao(np.linspace(0, 1, 42))
    fine = subdivide(mesh)
    assert len(fine.faces) == 4 * len(mesh.faces)
    # conforming: a closed mesh stays closed (every edge shared by two faces) with the same Euler characteristic
    tm = trimesh.Trimesh(fine.vertices, fine.faces, process=False)
    assert tm.is_watertight and tm.euler_number == 2
    # same surface: same area, same bounds (new vertices lie on the old flat faces)
    old = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    assert abs(tm.area - old.area) < 1e-5 * old.area
    np.testing.assert_allclose(fine.bounds, mesh.bounds, atol=1e-6)
    # the original vertices keep their indices and values
    np.testing.assert_array_equal(fine.vertices[:42], mesh.vertices)
    np.testing.assert_array_equal(fine.ao[:42], mesh.ao)
    # a midpoint's uv / ao / position are the means of its edge's ends; normals are unit
    a, b = mesh.faces[0, 0], mesh.faces[0, 1]
    k = int(np.argmin(np.linalg.norm(fine.vertices - 0.5 * (mesh.vertices[a] + mesh.vertices[b]), axis=1)))
    np.testing.assert_allclose(fine.uv[k], 0.5 * (mesh.uv[a] + mesh.uv[b]), atol=1e-6)
    np.testing.assert_allclose(fine.ao[k], 0.5 * (mesh.ao[a] + mesh.ao[b]), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(fine.normals, axis=1), 1.0, atol=1e-5)


def test_levels_follow_the_edge_target_and_the_face_budget() -> None:
    mesh = _sphere()
    edge = median_edge_length(mesh)
    assert subdivision_levels(mesh, edge * 1.01, 10**6) == 0
    assert subdivision_levels(mesh, edge / 3.9, 10**6) == 2
    assert subdivision_levels(mesh, edge / 3.9, 4 * len(mesh.faces)) == 1  # budget wins
    assert subdivision_levels(mesh, 0.0, 10**6) == 0  # 0 disables
    fine = subdivide_for_ao(mesh, edge / 3.9, 10**6)  # radius 1
    assert len(fine.faces) == 16 * len(mesh.faces)
    assert median_edge_length(fine) <= edge / 3.9 * 1.1
