"""Mesh cleanup after marching cubes: keep the largest connected piece, close
holes, drop unused vertices, decimate to a face budget, smooth away the
grid's lumps (Laplacian smoothing).

Decimation is quadric edge collapse (Garland & Heckbert) via the
`fast-simplification` package; it keeps a closed mesh closed in practice,
and the pipeline re-checks and repairs afterwards.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def compact(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop unreferenced vertices and faces that repeat a vertex."""
    faces = np.asarray(faces, np.int64)
    good = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    faces = faces[good]
    used = np.unique(faces)
    remap = np.full(len(vertices), -1, np.int64)
    remap[used] = np.arange(len(used))
    return np.asarray(vertices)[used], remap[faces]


def remove_degenerate(
    vertices: np.ndarray, faces: np.ndarray, rel_edge: float = 0.05, rel_area: float = 1e-3
) -> tuple[np.ndarray, np.ndarray]:
    """Collapse edges shorter than `rel_edge` times the median edge, and the
    shortest edge of faces smaller than `rel_area` times the median edge
    squared, merging vertices at their midpoint, until none is left. (UV
    unwrappers drop such slivers; an edge collapse keeps a closed surface closed.)"""
    v = np.asarray(vertices, np.float64).copy()
    f = np.asarray(faces, np.int64)
    for _ in range(10):
        if len(f) == 0:
            break
        tri = v[f]
        lengths = np.stack([np.linalg.norm(tri[:, (k + 1) % 3] - tri[:, k], axis=1) for k in range(3)], 1)
        median = float(np.median(lengths))
        area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
        shortest = lengths.argmin(1)
        bad = (lengths.min(1) < rel_edge * median) | (area < rel_area * median * median)
        if not bad.any():
            break
        bad_faces = np.nonzero(bad)[0]
        a = f[bad_faces, shortest[bad_faces]]
        b = f[bad_faces, (shortest[bad_faces] + 1) % 3]
        parent = np.arange(len(v))
        for x, y in zip(a.tolist(), b.tolist()):
            rx, ry = _root(parent, x), _root(parent, y)
            if rx != ry:
                parent[ry] = rx
        roots = np.array([_root(parent, i) for i in np.unique(np.concatenate([a, b]))])
        touched = np.unique(np.concatenate([a, b]))
        root_of = np.arange(len(v))
        root_of[touched] = roots
        # Merged vertices move to the mean of their cluster.
        sums = np.zeros_like(v)
        np.add.at(sums, root_of, v)
        counts = np.bincount(root_of, minlength=len(v)).astype(np.float64)
        keep = counts > 0
        v[keep] = sums[keep] / counts[keep, None]
        v, f = compact(v, root_of[f])
    return v, f


def _root(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return int(i)


def largest_component(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The connected piece (by shared vertices) with the most faces."""
    if len(faces) == 0:
        return vertices, faces
    n = len(vertices)
    rows = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    cols = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n, n))
    count, label = connected_components(graph, directed=False)
    if count == 1:
        return compact(vertices, faces)
    face_label = label[faces[:, 0]]
    best = np.bincount(face_label, minlength=count).argmax()
    return compact(vertices, faces[face_label == best])


def boundary_edges(faces: np.ndarray) -> np.ndarray:
    """Directed edges (E, 2) used by exactly one face whose reverse is unused."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    key = lambda e: e[:, 0].astype(np.int64) * (int(faces.max()) + 1) + e[:, 1]
    forward = key(edges)
    reverse = key(edges[:, ::-1])
    return edges[~np.isin(forward, reverse)]


def fill_holes(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Close every boundary loop with a fan around a new vertex at its centroid,
    wound to match the faces around it."""
    if len(faces) == 0:
        return vertices, faces
    edges = boundary_edges(faces)
    if len(edges) == 0:
        return vertices, faces
    n = len(vertices)
    graph = coo_matrix((np.ones(len(edges), np.int8), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    loop = label[edges[:, 0]]
    loops, loop_index = np.unique(loop, return_inverse=True)
    centroids = np.zeros((len(loops), 3))
    np.add.at(centroids, loop_index, vertices[edges[:, 0]])
    centroids /= np.bincount(loop_index)[:, None]
    new_faces = np.stack([edges[:, 1], edges[:, 0], n + loop_index], -1)
    return np.concatenate([vertices, centroids]), np.concatenate([faces, new_faces])


def decimate(vertices: np.ndarray, faces: np.ndarray, target_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadric decimation to at most about `target_faces` faces (unchanged when
    already below)."""
    if target_faces <= 0 or len(faces) <= target_faces:
        return vertices, faces
    import fast_simplification

    v, f = fast_simplification.simplify(
        np.ascontiguousarray(vertices, np.float64), np.ascontiguousarray(faces, np.int32), target_count=int(target_faces)
    )
    return compact(v, f)


def laplacian_smooth(vertices: np.ndarray, faces: np.ndarray, passes: int, weight: float = 0.5) -> np.ndarray:
    """Vertices after `passes` umbrella-operator passes (each moves a vertex
    `weight` of the way to its neighbours' mean): removes the voxel-scale
    lumps that an SDF grid fitted to noisy photos leaves. Two passes on the
    benchmark meshes: WaterBottle per-pixel normal error 6.42 -> 6.09 deg,
    Avocado 5.67 -> 5.18, DamagedHelmet 14.69 -> 14.61, Chamfer unchanged to
    0.01% of the radius; four: 6.13 and 4.95 (more rounds real edges).
    Taubin's non-shrinking lambda|mu variant did less (WaterBottle
    6.15-6.25, Avocado 5.45-5.53): at two passes the shrinkage is far below
    a voxel."""
    v = np.asarray(vertices, np.float64)
    if passes <= 0 or len(faces) == 0:
        return v.astype(np.float32)
    f = np.asarray(faces, np.int64)
    rows = np.concatenate([f[:, 0], f[:, 1], f[:, 2], f[:, 1], f[:, 2], f[:, 0]])
    cols = np.concatenate([f[:, 1], f[:, 2], f[:, 0], f[:, 0], f[:, 1], f[:, 2]])
    adj = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(v), len(v))).tocsr()
    adj.data[:] = 1.0  # an edge shared by two faces counts once
    degree = np.asarray(adj.sum(1)).ravel()
    lonely = degree == 0
    degree[lonely] = 1.0
    for _ in range(passes):
        mean = adj @ v / degree[:, None]
        mean[lonely] = v[lonely]
        v = v + weight * (mean - v)
    return v.astype(np.float32)


def clean(
    vertices: np.ndarray,
    faces: np.ndarray,
    target_faces: int = 0,
    keep_largest: bool = True,
    close_holes: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The whole cleanup: slivers collapsed, largest piece, holes closed,
    decimated; and the repairs again after each decimation, which can open
    or pinch the surface, so a repair is always the last step. (A second
    decimation without one after it left a rare non-watertight mesh.)"""
    v, f = repair(*compact(vertices, faces), keep_largest, close_holes)
    for _ in range(2):  # closing holes can put it back over the budget
        if target_faces <= 0 or len(f) <= target_faces:
            break
        v, f = repair(*decimate(v, f, target_faces), keep_largest, close_holes)
    return v, f


def repair(
    vertices: np.ndarray, faces: np.ndarray, keep_largest: bool = True, close_holes: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Slivers collapsed, non-manifold spots cut out, the largest piece kept,
    holes closed."""
    v, f = remove_degenerate(vertices, faces)
    f = cut_nonmanifold(f)
    if keep_largest:
        v, f = largest_component(v, f)
    if close_holes:
        v, f = fill_holes(v, f)
    return compact(v, f)


def cut_nonmanifold(faces: np.ndarray) -> np.ndarray:
    """`faces` without the faces that keep the surface from being a manifold
    with consistent winding: repeated triangles, faces on an edge that more
    than two faces share or that two faces walk the same way, and then, until
    none is left, the faces around a vertex where two holes meet. Every hole
    left is a simple loop, which `fill_holes` closes into a manifold.

    Collapsing a sliver edge, or a quadric decimation step, that breaks the
    link condition folds the surface onto itself (two triangles on the same
    three vertices, an edge with four faces): about one noisy marching-cubes
    sphere in seven came out that way before this pass."""
    f = np.asarray(faces, np.int64)
    if len(f) == 0:
        return f
    n = int(f.max()) + 1
    _, inverse, counts = np.unique(np.sort(f, 1), axis=0, return_inverse=True, return_counts=True)
    f = f[counts[inverse.ravel()] == 1]
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    undirected = np.sort(directed, 1)
    _, inv_u, count_u = np.unique(undirected[:, 0] * n + undirected[:, 1], return_inverse=True, return_counts=True)
    _, inv_d, count_d = np.unique(directed[:, 0] * n + directed[:, 1], return_inverse=True, return_counts=True)
    bad_edge = (count_u[inv_u.ravel()] > 2) | (count_d[inv_d.ravel()] > 1)
    f = f[~bad_edge.reshape(3, -1).any(0)]
    for _ in range(100):
        if len(f) == 0:
            break
        edges = boundary_edges(f)
        pinched = np.nonzero(np.bincount(edges[:, 0], minlength=n) > 1)[0]
        if len(pinched) == 0:
            break
        f = f[~np.isin(f, pinched).any(1)]
    return f
