"""UV atlases: unwrap meshes that come without UVs (xatlas), find the texels
an atlas covers, and pad textures past chart borders.

Why: material maps are fitted and exported as UV textures, so every mesh
needs a non-overlapping atlas. Bilinear lookups near a chart border also read
texels just outside it; `dilate` fills those from inside the chart so a seam
never shows the background colour.

Texture convention (as `Mesh`): v = 0 at the bottom, so texel row r (row 0 at
the top) spans v in [1 - (r+1)/R, 1 - r/R] and column c spans u in
[c/R, (c+1)/R].
"""

from __future__ import annotations

import numpy as np
import torch
import xatlas

from models.mesh import Mesh

_MASK_CHUNK = 1 << 22  # candidate texels tested at once


def ensure_uv(mesh: Mesh, resolution: int = 1024, padding: int = 2) -> Mesh:
    """`mesh` itself if it has UVs, else a copy unwrapped by xatlas for a
    `resolution`^2 texture with `padding` texels between charts.

    Faces keep their order; vertices are split along seams, and positions,
    normals and AO are copied to the split vertices, so shading stays
    continuous across seams. Every chart
    keeps the faces' winding (UV triangles have positive area with v up), so
    tangent frames need no mirroring.
    """
    if mesh.uv is not None:
        return mesh
    positions = np.ascontiguousarray(mesh.vertices, np.float32)
    # Pass 1: charts and their parameterisation. xatlas mirrors some charts
    # (its packer "rotates" by transposing), so un-mirror them ...
    first = xatlas.Atlas()
    first.add_mesh(positions, np.ascontiguousarray(mesh.faces, np.uint32), np.ascontiguousarray(mesh.normals, np.float32))
    first.generate(xatlas.ChartOptions(), _pack_options(resolution, padding))
    vmap1, faces1, uv1 = first[0]
    _, chart_of_vertex = first.get_mesh_vertex_assignment(0)
    uv1 = _unmirror(uv1.astype(np.float64), faces1.astype(np.int64), chart_of_vertex.astype(np.int64))
    # ... pass 2: pack those charts again without transposing, sized so the
    # atlas is exactly `resolution` texels wide (texel-aligned padding).
    vmap1 = vmap1.astype(np.int64)
    atlas = _repack(positions[vmap1], faces1, uv1, resolution, padding, first)
    vmap2, faces, uv = atlas[0]
    _, chart2 = atlas.get_mesh_vertex_assignment(0)
    texels = uv.astype(np.float64) * np.array([atlas.width, atlas.height], np.float64)
    uv = texels / max(resolution, atlas.width, atlas.height)
    faces = faces.astype(np.int64)
    uv = _unmirror(uv, faces, chart2.astype(np.int64), in_place=True)
    vmap = vmap1[vmap2.astype(np.int64)]
    return Mesh(
        vertices=np.ascontiguousarray(mesh.vertices[vmap]),
        faces=np.ascontiguousarray(faces, np.int32),
        normals=np.ascontiguousarray(mesh.normals[vmap]),
        uv=uv.astype(np.float32),
        ao=None if mesh.ao is None else np.ascontiguousarray(mesh.ao[vmap]),
    )


def _pack_options(resolution: int, padding: int, texels_per_unit: float = 0.0, rotate: bool = True):
    pack = xatlas.PackOptions()
    pack.resolution = int(resolution)
    pack.padding = int(padding)
    pack.bilinear = True
    pack.texels_per_unit = float(texels_per_unit)
    pack.rotate_charts = rotate
    return pack


def _repack(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, resolution: int, padding: int, first):
    """Pack fixed charts (given UVs) into one atlas, `resolution` wide when possible."""
    charts = xatlas.ChartOptions()
    charts.use_input_mesh_uvs = True
    scale = resolution / max(first.width, first.height, 1)
    tpu = first.texels_per_unit * scale * 0.98
    for _ in range(8):
        atlas = xatlas.Atlas()
        atlas.add_mesh(vertices, faces, None, uv.astype(np.float32))
        atlas.generate(charts, _pack_options(resolution, padding, tpu, rotate=False))
        if atlas.atlas_count == 1:
            return atlas
        tpu *= 0.9
    atlas = xatlas.Atlas()  # one atlas of whatever size; ensure_uv scales it down
    atlas.add_mesh(vertices, faces, None, uv.astype(np.float32))
    atlas.generate(charts, _pack_options(0, padding, 0.0, rotate=False))
    return atlas


def _unmirror(uv: np.ndarray, faces: np.ndarray, chart_of_vertex: np.ndarray, in_place: bool = False) -> np.ndarray:
    """Mirror the charts (per-vertex ids) whose total UV area is negative.

    Before packing a mirror about u = 0 is enough; after packing
    (`in_place`) a chart is mirrored within its own bounding box.
    """
    p = uv[faces]
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    area = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    chart_of_face = chart_of_vertex[faces[:, 0]]
    total = np.bincount(chart_of_face, area, minlength=chart_of_vertex.max(initial=0) + 1)
    flip = total[chart_of_vertex] < 0
    if not flip.any():
        return uv
    uv = uv.copy()
    if in_place:
        n = len(total)
        lo = np.full(n, np.inf)
        hi = np.full(n, -np.inf)
        np.minimum.at(lo, chart_of_vertex, uv[:, 0])
        np.maximum.at(hi, chart_of_vertex, uv[:, 0])
        uv[flip, 0] = lo[chart_of_vertex[flip]] + hi[chart_of_vertex[flip]] - uv[flip, 0]
    else:
        uv[flip, 0] = -uv[flip, 0]
    return uv


def seam_edges(mesh: Mesh) -> np.ndarray:
    """(S, 2, 2, 2) float32: for each edge that the atlas cuts (two faces
    share it in 3D but not in UV), the UVs of its two endpoints on each
    side: [side][endpoint] -> (u, v), endpoints in the same 3D order.

    The fit's smoothness pairs lie within a chart; pairs along these edges
    tie the charts together, or a reconstructed mesh's many charts are
    each fitted on their own and the maps break at every seam."""
    if mesh.uv is None or len(mesh.faces) == 0:
        return np.zeros((0, 2, 2, 2), np.float32)
    _, weld = np.unique(np.round(mesh.vertices.astype(np.float64), 6), axis=0, return_inverse=True)
    weld = weld.ravel()
    f = np.asarray(mesh.faces, np.int64)
    a = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
    b = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
    flip = weld[a] > weld[b]  # endpoints in welded-id order
    a, b = np.where(flip, b, a), np.where(flip, a, b)
    n = int(weld.max()) + 1
    key = weld[a] * n + weld[b]
    order = np.argsort(key, kind="stable")
    key, a, b = key[order], a[order], b[order]
    pair = np.nonzero(key[1:] == key[:-1])[0]  # consecutive edges on the same 3D edge
    uv = np.asarray(mesh.uv, np.float32)
    sides = np.stack([np.stack([uv[a[pair]], uv[b[pair]]], 1), np.stack([uv[a[pair + 1]], uv[b[pair + 1]]], 1)], 1)
    cut = np.abs(sides[:, 0] - sides[:, 1]).max((1, 2)) > 1e-6
    return np.ascontiguousarray(sides[cut])


def uv_coverage_mask(mesh: Mesh, resolution: int, conservative: bool = True) -> np.ndarray:
    """(R,R) bool: texels the UV triangles cover (row 0 = v near 1).

    `conservative` marks every texel whose square overlaps a triangle with
    positive area (what bilinear lookups inside charts read); otherwise only
    texels whose centre lies inside one.
    """
    r = int(resolution)
    mask = np.zeros(r * r, bool)
    texel, _ = uv_texels(mesh, r, conservative)
    mask[texel] = True
    return mask.reshape(r, r)


def uv_texels(mesh: Mesh, resolution: int, conservative: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Every (texel, face) pair where a UV triangle covers a texel: flat
    texel indices (K,) int64 (row * R + col, row 0 = v near 1) and face ids
    (K,) int64. Coverage as in `uv_coverage_mask`. Used to bake per-vertex
    data into textures and to check that charts do not overlap."""
    if mesh.uv is None:
        raise ValueError("the mesh has no UVs: call ensure_uv first")
    r = int(resolution)
    # Texel space: x right, y down, texel (row, col) is the square [col, col+1] x [row, row+1].
    p = np.stack([mesh.uv[:, 0] * r, (1.0 - mesh.uv[:, 1]) * r], 1).astype(np.float64)[mesh.faces]  # (F,3,2)
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    sign = np.where(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] < 0, -1.0, 1.0)
    # Edge i runs from vertex i+1 to i+2: E(x, y) = a x + b y + c, >= 0 inside.
    a0, a1 = p[:, [1, 2, 0]], p[:, [2, 0, 1]]
    ea = -(a1[..., 1] - a0[..., 1]) * sign[:, None]
    eb = (a1[..., 0] - a0[..., 0]) * sign[:, None]
    ec = -(ea * a0[..., 0] + eb * a0[..., 1])
    slack = 0.5 * (np.abs(ea) + np.abs(eb)) if conservative else np.zeros_like(ea)
    lo, hi = p.min(1), p.max(1)
    if conservative:  # squares overlapping with positive area (touching is not enough)
        first, last = np.floor(lo), np.ceil(hi) - 1
    else:
        first, last = np.ceil(lo - 0.5), np.floor(hi - 0.5)
    first = np.clip(first, 0, r - 1).astype(np.int64)
    last = np.clip(last, -1, r - 1).astype(np.int64)
    size = np.maximum(last - first + 1, 0)  # (F,2) columns, rows
    count = size[:, 0] * size[:, 1]
    cum = np.cumsum(count)
    texels, faces = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    start = 0
    while start < len(count):
        # Triangles [start, stop) hold at most _MASK_CHUNK candidates (or one triangle).
        stop = max(int(np.searchsorted(cum, cum[start] - count[start] + _MASK_CHUNK, side="right")), start + 1)
        sel = np.arange(start, stop)
        start = stop
        sel = sel[count[sel] > 0]
        if len(sel) == 0:
            continue
        owner = np.repeat(sel, count[sel])
        k = np.arange(len(owner)) - np.repeat(np.cumsum(count[sel]) - count[sel], count[sel])
        col = first[owner, 0] + k % size[owner, 0]
        row = first[owner, 1] + k // size[owner, 0]
        x, y = col + 0.5, row + 0.5
        e = ea[owner] * x[:, None] + eb[owner] * y[:, None] + ec[owner] + slack[owner]
        inside = (e > 0).all(1) if conservative else (e >= 0).all(1)
        texels.append(row[inside] * r + col[inside])
        faces.append(owner[inside])
    return np.concatenate(texels), np.concatenate(faces)


def dilate(
    texture: np.ndarray | torch.Tensor, mask: np.ndarray | torch.Tensor, iterations: int = 8
) -> np.ndarray | torch.Tensor:
    """Pad a texture (R,R[,C]) outward from the texels in `mask` (R,R):
    each iteration gives every unmasked texel bordering masked ones the mean
    of its masked 8-neighbours. Returns the same type as `texture`."""
    as_numpy = isinstance(texture, np.ndarray)
    tex = torch.as_tensor(texture)
    squeeze = tex.dim() == 2
    t = (tex[..., None] if squeeze else tex).to(torch.float64)  # (R,R,C)
    known = torch.as_tensor(mask, device=t.device).to(torch.bool).clone()
    t = torch.where(known[..., None], t, torch.zeros((), dtype=t.dtype, device=t.device))
    for _ in range(iterations):
        if bool(known.all()):
            break
        w = known.to(t.dtype)
        total = _box3(t * w[..., None])
        weight = _box3(w[..., None])[..., 0]
        grow = (~known) & (weight > 0)
        t = torch.where(grow[..., None], total / weight.clamp_min(1)[..., None], t)
        known = known | grow
    out = (t[..., 0] if squeeze else t).to(tex.dtype)
    return out.numpy() if as_numpy else out


def _box3(x: torch.Tensor) -> torch.Tensor:
    """Sum over each texel's 3x3 neighbourhood (zero outside) of x (R,R,C)."""
    p = torch.nn.functional.pad(x.permute(2, 0, 1), (1, 1, 1, 1))  # (C,R+2,R+2)
    h, w = x.shape[0], x.shape[1]
    s = sum(p[:, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3))
    return s.permute(1, 2, 0)
