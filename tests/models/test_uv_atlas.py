"""xatlas unwrapping, atlas coverage masks and texture dilation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from models.mesh import Mesh
from models.uv_atlas import dilate, ensure_uv, seam_edges, uv_coverage_mask, uv_texels


def _areas(points: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Signed areas (F,) of 2D triangles, or unsigned areas of 3D ones."""
    p = points.astype(np.float64)[faces]
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    if p.shape[-1] == 2:
        return 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    return 0.5 * np.linalg.norm(np.cross(e1, e2), axis=1)


def _check_unwrap(mesh: Mesh, resolution: int) -> Mesh:
    out = ensure_uv(mesh, resolution)
    assert out.uv is not None and out.uv.shape == (len(out.vertices), 2)
    assert out.uv.min() >= 0.0 and out.uv.max() <= 1.0
    # Same surface: same area; face by face the same corners and normals.
    assert _areas(out.vertices, out.faces).sum() == pytest.approx(_areas(mesh.vertices, mesh.faces).sum(), rel=1e-6)
    assert np.array_equal(out.vertices[out.faces], mesh.vertices[mesh.faces])
    assert np.array_equal(out.normals[out.faces], mesh.normals[mesh.faces])
    if mesh.ao is not None:
        assert np.array_equal(out.ao[out.faces], mesh.ao[mesh.faces])
    # Charts keep the faces' winding (v up) and do not overlap.
    assert _areas(out.uv, out.faces).min() >= 0.0
    texel, face = uv_texels(out, resolution)
    order = np.lexsort((face, texel))
    texel, face = texel[order], face[order]
    twice = np.nonzero(texel[1:] == texel[:-1])[0]
    shared = [len(set(out.faces[a]) & set(out.faces[b])) > 0 for a, b in zip(face[twice], face[twice + 1])]
    assert len(shared) - sum(shared) <= 1e-4 * len(np.unique(texel))  # only neighbours meet on an edge
    return out


def test_unwraps_a_torus() -> None:
    tm = trimesh.creation.torus(1.0, 0.3)
    mesh = Mesh.from_arrays(tm.vertices, tm.faces)
    mesh = mesh.with_ao(np.linspace(0, 1, len(mesh.vertices)))
    out = _check_unwrap(mesh, 256)
    assert len(out.vertices) > len(mesh.vertices)  # split along seams
    # Texel-aligned on the requested texture, with charts filling a fair part of it.
    mask = uv_coverage_mask(out, 256)
    assert mask.shape == (256, 256) and 0.3 < mask.mean() < 0.95


def test_seam_edges_pair_the_two_sides_of_each_cut() -> None:
    # A square in two charts, cut along its diagonal: one seam, its ends
    # in the same 3D order on both sides.
    p = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 1, 0], [0, 1, 0]], np.float32)
    uv = np.array([[0.1, 0.1], [0.4, 0.1], [0.4, 0.4], [0.6, 0.6], [0.9, 0.9], [0.6, 0.9]], np.float32)
    cut = Mesh.from_arrays(p, np.array([[0, 1, 2], [3, 4, 5]]), uv)
    seams = seam_edges(cut)
    assert seams.shape == (1, 2, 2, 2)
    assert np.allclose(sorted(seams[0].tolist()), [[[0.1, 0.1], [0.4, 0.4]], [[0.6, 0.6], [0.9, 0.9]]])
    # Joined in UV too: no seam.
    joined = Mesh.from_arrays(p[:3].tolist() + [p[5]], np.array([[0, 1, 2], [0, 2, 3]]), uv[[0, 1, 2, 5]])
    assert len(seam_edges(joined)) == 0
    # An unwrapped torus: each side's ends are the same two 3D points.
    tm = trimesh.creation.torus(1.0, 0.3)
    out = ensure_uv(Mesh.from_arrays(tm.vertices, tm.faces), 256)
    seams = seam_edges(out)
    assert len(seams) > 20
    where = {tuple(t): out.vertices[i] for i, t in enumerate(out.uv.tolist())}
    for side_a, side_b in seams[:50].tolist():
        for end in range(2):
            assert np.allclose(where[tuple(side_a[end])], where[tuple(side_b[end])], atol=1e-5)


def test_unwraps_a_real_asset(shared_data: Path) -> None:
    tm = trimesh.load(shared_data / "assets" / "spot" / "spot.obj", process=False, force="mesh")
    mesh = Mesh.from_arrays(tm.vertices, tm.faces)  # drop its own UVs
    out = _check_unwrap(mesh, 512)
    centre = uv_coverage_mask(out, 512, conservative=False)
    conservative = uv_coverage_mask(out, 512)
    assert np.all(conservative[centre]) and conservative.sum() > centre.sum()
    assert 0.3 < centre.mean() < 0.95


def test_mesh_with_uvs_is_returned_as_is() -> None:
    tm = trimesh.creation.box()
    mesh = Mesh.from_arrays(tm.vertices, tm.faces, np.zeros((8, 2)))
    assert ensure_uv(mesh) is mesh


def test_mask_rows_run_from_v_one_at_the_top() -> None:
    """A quad over u in [0.25, 0.75], v in [0.5, 1] covers exactly the top
    half's middle columns; a triangle hugging u = 0, v = 1 marks the top left."""
    v = np.zeros((4, 3))
    uv = np.array([[0.25, 0.5], [0.75, 0.5], [0.75, 1.0], [0.25, 1.0]])
    quad = Mesh.from_arrays(v, np.array([[0, 1, 2], [0, 2, 3]]), uv)
    for conservative in (True, False):
        mask = uv_coverage_mask(quad, 64, conservative)
        expected = np.zeros((64, 64), bool)
        expected[0:32, 16:48] = True
        assert np.array_equal(mask, expected)
    corner = Mesh.from_arrays(np.zeros((3, 3)), np.array([[0, 1, 2]]), np.array([[0.0, 1.0], [0.1, 1.0], [0.0, 0.9]]))
    rows, cols = np.nonzero(uv_coverage_mask(corner, 100, conservative=False))
    assert rows.max() < 10 and cols.max() < 10 and (0, 0) in set(zip(rows.tolist(), cols.tolist()))
    # Conservative coverage adds texels a thin sliver only grazes.
    sliver = Mesh.from_arrays(np.zeros((3, 3)), np.array([[0, 1, 2]]), np.array([[0.1, 0.5], [0.9, 0.5], [0.9, 0.501]]))
    assert uv_coverage_mask(sliver, 64, conservative=False).sum() == 0
    assert uv_coverage_mask(sliver, 64).sum() >= 50


def test_dilate_pads_charts_from_their_borders() -> None:
    mask = np.zeros((32, 32), bool)
    mask[10:20, 10:20] = True
    tex = np.zeros((32, 32, 3), np.float32)
    tex[10:20, 10:15] = [1.0, 0.0, 0.0]
    tex[10:20, 15:20] = [0.0, 0.0, 1.0]
    out = dilate(tex, mask, iterations=3)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert np.array_equal(out[mask], tex[mask])  # chart texels untouched
    assert np.allclose(out[15, 7], [1, 0, 0]) and np.allclose(out[15, 22], [0, 0, 1])  # 3 texels out
    assert np.all(out[15, :7] == 0) and np.all(out[0] == 0)  # no further
    assert np.allclose(out[9, 14:16].sum(0), [1, 0, 1])  # a border texel blends its neighbours
    # Torch in, torch out; a single-channel map works too.
    out_t = dilate(torch.as_tensor(tex[..., 0]), torch.as_tensor(mask), iterations=40)
    assert isinstance(out_t, torch.Tensor) and out_t.shape == (32, 32)
    assert torch.all(out_t[10:20, :10] == 1.0)  # filled all the way to the edge
    assert torch.all(out_t > -1e-6) and torch.all(out_t < 1 + 1e-6)
