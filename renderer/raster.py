"""A pure-torch triangle rasterizer that writes G-buffers (CPU and CUDA alike).

Why its own rasterizer: fitting needs position/normal/UV per pixel of every
training view, on machines with or without a GPU and without an OpenGL
context, and it must match the camera model exactly (pixel centres at +0.5,
row 0 on top, fx != fy, off-centre cx, cy).

How (homogeneous rasterization, Olano & Greer 1997): for a pixel ray r (camera
space, r.z = -1) and a triangle P0 P1 P2 (camera space), the edge functions
    E_i(r) = r . (P_j x P_k)        (i, j, k cyclic)
are linear in the pixel coordinates, and b_i = E_i / (E_0 + E_1 + E_2) are the
exact perspective-correct barycentrics of the ray's hit, at depth
t = (P0 . N) / (r . N). A pixel is inside when the three E_i share a sign.
This needs no clipping: triangles that cross the near plane are tested as a
whole and hits nearer than `near` are dropped (only their screen bounding box
is computed from the clipped polygon). A shared edge's E is exactly negated in
the neighbouring triangle, so meshes render without cracks; pixel centres on
an edge belong to both triangles and the depth test picks one.

Pass 1 expands triangles into tiles of at most 64x64 pixels, bins the tiles
by (padded) size so a chunk of same-sized tiles evaluates its edge functions
by broadcasting, and resolves visibility with `scatter_reduce(amin)` on an
int64 key: float32 bits of the depth << 32 | back-facing << 31 | triangle id
(positive floats order like their bits, so no depth quantisation; on a depth
tie the front face wins). Pass 2 recomputes barycentrics of each pixel's
winning triangle in float64. Memory per chunk is bounded by `chunk_elements`
(pixel-triangle pairs, ~100 bytes each); meshes up to 2^31 triangles.
"""

from __future__ import annotations

import torch

from models.camera import Camera
from models.mesh import Mesh
from renderer.gbuffer import GBuffer, build_gbuffer

TILE = 64
# Padded tile sizes: a tile of width w is evaluated on the next size up.
_SIZES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
_EMPTY = torch.iinfo(torch.int64).max
_BBOX_SLACK = 1e-3  # pixels: keeps float32/float64 disagreements from dropping edge pixels


def rasterize(
    mesh: Mesh,
    camera: Camera,
    device: torch.device | str = "cpu",
    *,
    near: float = 1e-4,
    chunk_elements: int = 1 << 20,
) -> GBuffer:
    """Rasterize `mesh` seen by `camera` into a GBuffer on `device`.

    Uses the pinhole intrinsics exactly and ignores lens distortion (images
    are undistorted before fitting). Hits closer than `near` (world units
    along the view axis) are dropped. `chunk_elements` bounds the number of
    pixel-triangle pairs evaluated at once (~100 bytes each).
    """
    setup = _TriangleSetup(mesh, camera, torch.device(device))
    triangle, _ = _resolve(setup, near, chunk_elements)
    bary, depth64, back = setup.barycentrics(triangle)
    return build_gbuffer(mesh, camera, triangle, bary, depth64, back)


def visible_triangles(
    mesh: Mesh,
    camera: Camera,
    device: torch.device | str = "cpu",
    *,
    near: float = 1e-4,
    chunk_elements: int = 1 << 20,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pass 1 only: the nearest triangle id (H*W,) int64 (-1 = empty) and its
    float32 depth (H*W,) per pixel, row-major."""
    return _resolve(_TriangleSetup(mesh, camera, torch.device(device)), near, chunk_elements)


def _resolve(setup: "_TriangleSetup", near: float, chunk_elements: int) -> tuple[torch.Tensor, torch.Tensor]:
    device = setup.device
    h, w = setup.camera.height, setup.camera.width
    zbuf = torch.full((h * w,), _EMPTY, dtype=torch.int64, device=device)
    tiles = setup.tiles(near)
    if tiles is not None:
        for chunk in _chunks(tiles, chunk_elements):
            _draw_chunk(setup, chunk, zbuf, near)
    covered = zbuf != _EMPTY
    triangle = torch.where(covered, zbuf & 0x7FFFFFFF, torch.full_like(zbuf, -1))
    depth = torch.where(covered, zbuf >> 32, torch.zeros_like(zbuf)).to(torch.int32).view(torch.float32)
    return triangle, depth


class _TriangleSetup:
    """Per-triangle constants in camera space (float64 setup, float32 copies
    for the per-pixel pass)."""

    def __init__(self, mesh: Mesh, camera: Camera, device: torch.device):
        f64 = torch.float64
        self.camera = camera
        self.device = device
        w2c = torch.as_tensor(camera.w2c, dtype=f64, device=device)
        v = torch.as_tensor(mesh.vertices, device=device).to(f64)
        vc = v @ w2c[:3, :3].T + w2c[:3, 3]  # (V,3) OpenGL camera space
        faces = torch.as_tensor(mesh.faces.astype("int64"), device=device)
        p = vc[faces]  # (F,3,3)
        self.p = p
        # Edge vectors C_i = P_j x P_k; E_i(u, v) = ax_i * u + ay_i * v + a0_i.
        c = torch.stack([torch.cross(p[:, (i + 1) % 3], p[:, (i + 2) % 3], dim=-1) for i in range(3)], 1)
        fx, fy, cx, cy = camera.fx, camera.fy, camera.cx, camera.cy
        # r = ((u - cx) / fx, -(v - cy) / fy, -1) with u, v pixel-centre coordinates.
        self.ax = c[..., 0] / fx  # (F,3)
        self.ay = -c[..., 1] / fy
        self.a0 = -c[..., 0] * (cx / fx) + c[..., 1] * (cy / fy) - c[..., 2]
        n = torch.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], dim=-1)
        self.plane = (p[:, 0] * n).sum(-1)  # (F,) P0 . N; depth = plane / sum(E)
        self.coeff32 = torch.cat([self.ax, self.ay, self.a0, self.plane[:, None]], 1).to(torch.float32)  # (F,10)

    def tiles(self, near: float) -> torch.Tensor | None:
        """Screen tiles (T,5) int64 [triangle, x0, y0, w, h], each at most
        TILE x TILE pixels, covering every triangle's clipped bounding box."""
        cam = self.camera
        p = self.p
        z = -p[..., 2]  # (F,3) depth along the view axis
        front = z >= near
        # Candidate points: vertices in front of the near plane, and the
        # points where edges cross it.
        a, b = p, p.roll(-1, dims=1)
        za, zb = z, z.roll(-1, dims=1)
        crossing = (za - near) * (zb - near) < 0
        s = ((near - za) / torch.where(crossing, zb - za, torch.ones_like(za))).clamp(0, 1)
        q = a + s[..., None] * (b - a)  # (F,3,3) on the near plane where crossing
        pts = torch.cat([p, q], 1)  # (F,6,3)
        ok = torch.cat([front, crossing], 1)  # (F,6)
        d = (-pts[..., 2]).clamp_min(near)
        sx = cam.fx * pts[..., 0] / d + cam.cx
        sy = -cam.fy * pts[..., 1] / d + cam.cy
        inf = torch.tensor(float("inf"), dtype=torch.float64, device=self.device)
        xmin = torch.where(ok, sx, inf).amin(1) - _BBOX_SLACK
        xmax = torch.where(ok, sx, -inf).amax(1) + _BBOX_SLACK
        ymin = torch.where(ok, sy, inf).amin(1) - _BBOX_SLACK
        ymax = torch.where(ok, sy, -inf).amax(1) + _BBOX_SLACK
        keep = ok.any(1) & (xmax >= 0) & (ymax >= 0) & (xmin <= cam.width) & (ymin <= cam.height)
        keep &= self.plane != 0  # planes through the eye are seen edge-on
        tri = torch.nonzero(keep).reshape(-1)
        if tri.numel() == 0:
            return None

        def span(lo: torch.Tensor, hi: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
            first = torch.ceil(lo[tri] - 0.5).clamp(0, size - 1).to(torch.int64)
            last = torch.floor(hi[tri] - 0.5).clamp(-1, size - 1).to(torch.int64)
            return first, last - first + 1

        x0, w = span(xmin, xmax, cam.width)
        y0, h = span(ymin, ymax, cam.height)
        good = (w > 0) & (h > 0)
        tri, x0, y0, w, h = tri[good], x0[good], y0[good], w[good], h[good]
        ntx, nty = (w + TILE - 1) // TILE, (h + TILE - 1) // TILE
        count = ntx * nty
        owner = torch.repeat_interleave(torch.arange(tri.numel(), device=self.device), count)
        k = torch.arange(owner.numel(), device=self.device) - torch.repeat_interleave(count.cumsum(0) - count, count)
        kx, ky = k % ntx[owner], k // ntx[owner]
        tx0 = x0[owner] + kx * TILE
        ty0 = y0[owner] + ky * TILE
        tw = torch.minimum(x0[owner] + w[owner] - tx0, torch.tensor(TILE, device=self.device))
        th = torch.minimum(y0[owner] + h[owner] - ty0, torch.tensor(TILE, device=self.device))
        return torch.stack([tri[owner], tx0, ty0, tw, th], 1)

    def barycentrics(self, triangle: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pass 2, for the K covered pixels of `triangle` (H*W,) in row-major
        order: float64 barycentrics (K,3), depth (K,) and back-facing flags (K,)."""
        cam = self.camera
        pix = torch.nonzero(triangle >= 0).reshape(-1)
        t = triangle[pix]
        u = (pix % cam.width).to(torch.float64)[:, None] + 0.5
        v = (pix // cam.width).to(torch.float64)[:, None] + 0.5
        e = self.ax[t] * u + self.ay[t] * v + self.a0[t]  # (K,3)
        total = e.sum(1)
        total = torch.where(total == 0, torch.full_like(total, 1e-300), total)
        b = (e / total[:, None]).clamp_min(0)
        b = b / b.sum(1, keepdim=True)
        # r . N > 0: the ray travels along the normal, i.e. sees the back.
        return b, self.plane[t] / total, total > 0


def _chunks(tiles: torch.Tensor, budget: int):
    """Yield (tiles (T,5), padded width, padded height) groups whose padded
    pixel count stays within `budget`."""
    sizes = torch.tensor(_SIZES, device=tiles.device)
    cw = torch.bucketize(tiles[:, 3].contiguous(), sizes)
    ch = torch.bucketize(tiles[:, 4].contiguous(), sizes)
    key = cw * len(_SIZES) + ch
    order = torch.argsort(key)
    tiles, key = tiles[order], key[order]
    uniq, counts = torch.unique_consecutive(key, return_counts=True)
    start = 0
    for k, c in zip(uniq.tolist(), counts.tolist()):
        pw, ph = _SIZES[k // len(_SIZES)], _SIZES[k % len(_SIZES)]
        per = max(1, budget // (pw * ph))
        for s in range(start, start + c, per):
            yield tiles[s : min(s + per, start + c)], pw, ph
        start += c


def _draw_chunk(setup: _TriangleSetup, chunk: tuple[torch.Tensor, int, int], zbuf: torch.Tensor, near: float) -> None:
    """Edge-test a group of same-sized tiles and depth-test the hits into `zbuf`."""
    tiles, pw, ph = chunk
    cam = setup.camera
    dev = setup.device
    tri, x0, y0, w, h = tiles.unbind(1)
    co = setup.coeff32[tri]  # (T,10)
    dx = torch.arange(pw, device=dev)
    dy = torch.arange(ph, device=dev)
    px = x0[:, None] + dx  # (T,pw)
    py = y0[:, None] + dy  # (T,ph)
    xs = px.to(torch.float32) + 0.5
    ys = py.to(torch.float32) + 0.5
    valid = (dx < w[:, None])[:, None, :] & (dy < h[:, None])[:, :, None]  # (T,ph,pw)
    e = [
        (co[:, 3 + i, None] * ys + co[:, 6 + i, None])[:, :, None] + (co[:, i, None] * xs)[:, None, :]
        for i in range(3)
    ]  # 3 x (T,ph,pw)
    pos = (e[0] >= 0) & (e[1] >= 0) & (e[2] >= 0)
    neg = (e[0] <= 0) & (e[1] <= 0) & (e[2] <= 0)
    total = e[0] + e[1] + e[2]
    depth = co[:, 9, None, None] / total  # (T,ph,pw)
    ok = (pos | neg) & valid & (depth >= near) & (total != 0)
    # Ties (pixels on a contour edge) go to the front face, then the lower id.
    back = (total > 0).to(torch.int64) << 31
    key = (depth.view(torch.int32).to(torch.int64) << 32) | back | tri[:, None, None]
    key = torch.where(ok, key, torch.full((), _EMPTY, dtype=torch.int64, device=dev))
    # Padding pixels past the image edge are clamped in; their key is _EMPTY.
    pixel = (py.clamp(max=cam.height - 1) * cam.width)[:, :, None] + px.clamp(max=cam.width - 1)[:, None, :]
    pixel, key = pixel.reshape(-1), key.reshape(-1)
    zbuf.scatter_reduce_(0, pixel, key, reduce="amin")
