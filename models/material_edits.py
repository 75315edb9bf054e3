"""Material edits (Qt-free): HSV and scale/offset adjustments of the maps,
selection of a region of similar material in UV space, surface picking.

Every function here is pure: it returns new arrays and never writes into
the MaterialMaps it is given, so an undo stack that keeps the previous
MaterialMaps restores it exactly. A channel an edit does not touch keeps the
very same array object.

Albedo hue/saturation/value are adjusted on the sRGB-encoded albedo (how
people judge colour) and stored back linear. Region similarity compares
sRGB albedo, roughness and metallic, each in [0, 1].

Texel convention (as `MaterialMaps` and `models.uv_atlas`): row 0 is the top
of the texture (v = 1), column 0 is u = 0.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
from scipy import ndimage

from models.imageio import linear_to_srgb, srgb_to_linear
from models.material import MaterialMaps
from models.mesh import Mesh
from models.navigation import nearest_hit
from models.scene_params import MATERIAL_ALBEDO, MATERIAL_METALLIC, MATERIAL_ROUGHNESS

# ---------------------------------------------------------------- colour


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """RGB (..., 3) in [0, 1] -> HSV (..., 3): hue in [0, 1) (fraction of a
    turn), saturation and value in [0, 1]. Computed in float64."""
    c = np.asarray(rgb, np.float64)
    r, g, b = c[..., 0], c[..., 1], c[..., 2]
    maxc = c.max(-1)
    minc = c.min(-1)
    delta = maxc - minc
    s = np.where(maxc > 0, delta / np.where(maxc > 0, maxc, 1.0), 0.0)
    safe = np.where(delta > 0, delta, 1.0)
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    h = np.where(r == maxc, bc - gc, np.where(g == maxc, 2.0 + rc - bc, 4.0 + gc - rc))
    h = np.where(delta > 0, (h / 6.0) % 1.0, 0.0)
    return np.stack([h, s, maxc], -1)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """Inverse of `rgb_to_hsv` (hue wraps), float64 (..., 3)."""
    c = np.asarray(hsv, np.float64)
    h, s, v = c[..., 0] % 1.0, c[..., 1], c[..., 2]
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    i = i.astype(np.int64) % 6
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], -1)


# ---------------------------------------------------------------- adjustments


@dataclass(frozen=True)
class Adjustment:
    """One edit of the maps, applied to the whole object or a region.

    `albedo`, `roughness`, `metallic` *set* a value when not None (albedo is
    linear RGB); the relative terms apply after that. Neutral values change
    nothing.
    """

    hue_shift: float = 0.0
    """Albedo hue rotation in degrees."""
    saturation: float = 1.0
    """Albedo saturation multiplier (result clipped to [0, 1])."""
    value: float = 1.0
    """Albedo value (brightness) multiplier (result clipped to [0, 1])."""
    roughness_scale: float = 1.0
    """Roughness r -> clip(r * scale + offset)."""
    roughness_offset: float = 0.0
    """See roughness_scale."""
    metallic_scale: float = 1.0
    """Metallic m -> clip(m * scale + offset)."""
    metallic_offset: float = 0.0
    """See metallic_scale."""
    albedo: tuple[float, float, float] | None = None
    """Set the albedo to this linear RGB (before the HSV terms)."""
    roughness: float | None = None
    """Set the roughness (before scale/offset)."""
    metallic: float | None = None
    """Set the metallic (before scale/offset)."""

    def touches(self) -> frozenset[str]:
        """Names of the channels this adjustment changes (MATERIAL_*)."""
        out = set()
        if self.albedo is not None or self.hue_shift % 360.0 != 0.0 or self.saturation != 1.0 or self.value != 1.0:
            out.add(MATERIAL_ALBEDO)
        if self.roughness is not None or self.roughness_scale != 1.0 or self.roughness_offset != 0.0:
            out.add(MATERIAL_ROUGHNESS)
        if self.metallic is not None or self.metallic_scale != 1.0 or self.metallic_offset != 0.0:
            out.add(MATERIAL_METALLIC)
        return frozenset(out)

    @property
    def is_identity(self) -> bool:
        return not self.touches()

    def describe(self) -> str:
        """A short human text for undo entries ('hue +20°, roughness ×1.2')."""
        neutral = Adjustment()
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value != getattr(neutral, f.name):
                parts.append(f"{f.name.replace('_', ' ')} {_fmt(value)}")
        return ", ".join(parts) or "no change"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(f"{v:.3g}" for v in value) + ")"
    return str(value)


def adjust_albedo(albedo: np.ndarray, adjustment: Adjustment) -> np.ndarray:
    """Albedo (..., 3) linear -> adjusted linear float32 (set, then HSV on sRGB)."""
    a = np.asarray(albedo, np.float32)
    if adjustment.albedo is not None:
        a = np.broadcast_to(np.asarray(adjustment.albedo, np.float32), a.shape)
    if adjustment.hue_shift % 360.0 != 0.0 or adjustment.saturation != 1.0 or adjustment.value != 1.0:
        hsv = rgb_to_hsv(linear_to_srgb(np.clip(a, 0.0, 1.0).astype(np.float64)))
        hsv[..., 0] = (hsv[..., 0] + adjustment.hue_shift / 360.0) % 1.0
        hsv[..., 1] = np.clip(hsv[..., 1] * adjustment.saturation, 0.0, 1.0)
        hsv[..., 2] = np.clip(hsv[..., 2] * adjustment.value, 0.0, 1.0)
        a = srgb_to_linear(np.clip(hsv_to_rgb(hsv), 0.0, 1.0))
    return np.clip(a, 0.0, 1.0).astype(np.float32)


def adjust_scalar(x: np.ndarray, set_to: float | None, scale: float, offset: float) -> np.ndarray:
    """clip((set_to or x) * scale + offset, 0, 1) as float32."""
    base = np.asarray(x, np.float32) if set_to is None else np.full(np.shape(x), set_to, np.float32)
    return np.clip(base * np.float32(scale) + np.float32(offset), 0.0, 1.0).astype(np.float32)


def apply_adjustment(maps: MaterialMaps, adjustment: Adjustment, mask: np.ndarray | None = None) -> MaterialMaps:
    """New maps with `adjustment` applied where `mask` (R,R) bool is True
    (everywhere when None). Texels outside the mask keep their exact values;
    untouched channels keep their array objects."""
    touched = adjustment.touches()
    if mask is not None:
        mask = np.asarray(mask, bool)
        if mask.shape != maps.resolution:
            raise ValueError(f"mask {mask.shape} does not match maps {maps.resolution}")
        if not mask.any():
            return maps

    def edit(channel: np.ndarray, fn) -> np.ndarray:
        if mask is None:
            return fn(channel)
        out = np.array(channel, np.float32, copy=True)
        out[mask] = fn(channel[mask])
        return out

    albedo, roughness, metallic = maps.albedo, maps.roughness, maps.metallic
    if MATERIAL_ALBEDO in touched:
        albedo = edit(maps.albedo, lambda a: adjust_albedo(a, adjustment))
    if MATERIAL_ROUGHNESS in touched:
        a = adjustment
        roughness = edit(maps.roughness, lambda r: adjust_scalar(r, a.roughness, a.roughness_scale, a.roughness_offset))
    if MATERIAL_METALLIC in touched:
        a = adjustment
        metallic = edit(maps.metallic, lambda m: adjust_scalar(m, a.metallic, a.metallic_scale, a.metallic_offset))
    return replace(maps, albedo=albedo, roughness=roughness, metallic=metallic)


# ---------------------------------------------------------------- regions


def material_features(maps: MaterialMaps) -> np.ndarray:
    """(R,R,5) float32: sRGB albedo, roughness, metallic; all in [0,1]."""
    srgb = linear_to_srgb(np.clip(maps.albedo[..., :3], 0.0, 1.0).astype(np.float32))
    return np.concatenate([srgb, maps.roughness[..., None], maps.metallic[..., None]], -1).astype(np.float32)


def uv_to_texel(uv: tuple[float, float] | np.ndarray, resolution: tuple[int, int]) -> tuple[int, int]:
    """The (row, col) of the texel holding texture coordinate uv (v up)."""
    h, w = resolution
    u, v = float(uv[0]), float(uv[1])
    col = min(max(int(np.floor(u * w)), 0), w - 1)
    row = min(max(int(np.floor((1.0 - v) * h)), 0), h - 1)
    return row, col


def texel_charts(mesh: Mesh, resolution: int) -> np.ndarray:
    """(R,R) int32: the UV chart of each texel, -1 where no triangle covers it.

    A chart is a set of faces connected through shared vertices (meshes
    split vertices along UV seams, so sharing a vertex means touching in UV
    space). Texels covered by two charts (no padding) go to one of them.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from models.uv_atlas import uv_texels

    r = int(resolution)
    faces = np.asarray(mesh.faces, np.int64)
    n = len(mesh.vertices)
    rows = np.concatenate([faces[:, 0], faces[:, 1]])
    cols = np.concatenate([faces[:, 1], faces[:, 2]])
    graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n, n))
    _, vertex_chart = connected_components(graph, directed=False)
    face_chart = vertex_chart[faces[:, 0]].astype(np.int32)
    texel, face = uv_texels(mesh, r, conservative=True)
    charts = np.full(r * r, -1, np.int32)
    charts[texel] = face_chart[face]
    return charts.reshape(r, r)


_CONNECTIVITY = {4: ndimage.generate_binary_structure(2, 1), 8: ndimage.generate_binary_structure(2, 2)}


def select_region(
    maps: MaterialMaps,
    seed: tuple[int, int],
    tolerance: float = 0.1,
    charts: np.ndarray | None = None,
    connectivity: int = 8,
) -> np.ndarray:
    """(R,R) bool: the texels connected to `seed` (row, col) whose material
    differs from the seed's by at most `tolerance` in every feature (sRGB
    albedo channels, roughness, metallic), flood-filled within the seed's UV
    chart when `charts` (from `texel_charts`) is given."""
    h, w = maps.resolution
    row, col = int(seed[0]), int(seed[1])
    if not (0 <= row < h and 0 <= col < w):
        raise ValueError(f"seed texel {seed} is outside the {h}x{w} maps")
    features = material_features(maps)
    similar = np.abs(features - features[row, col]).max(-1) <= float(tolerance) + 1e-6
    if charts is not None:
        if charts.shape != (h, w):
            raise ValueError(f"chart map {charts.shape} does not match maps {(h, w)}")
        if charts[row, col] >= 0:
            similar &= charts == charts[row, col]
    labels, _ = ndimage.label(similar, _CONNECTIVITY[connectivity])
    return labels == labels[row, col]


def grow_into_padding(mask: np.ndarray, charts: np.ndarray, texels: int = 2) -> np.ndarray:
    """`mask` grown by up to `texels` into texels no chart covers (the
    dilated padding bilinear lookups read at chart borders), never into
    another chart."""
    if texels <= 0 or not mask.any():
        return mask
    free = charts < 0
    return ndimage.binary_dilation(mask, _CONNECTIVITY[8], iterations=texels, mask=free | mask)


def region_summary(maps: MaterialMaps, mask: np.ndarray) -> dict[str, object]:
    """Mean linear albedo, roughness, metallic and texel count of a region."""
    n = int(mask.sum())
    if n == 0:
        return {"texels": 0}
    return {
        "texels": n,
        "albedo": tuple(float(x) for x in maps.albedo[mask].mean(0)),
        "roughness": float(maps.roughness[mask].mean()),
        "metallic": float(maps.metallic[mask].mean()),
    }


# ---------------------------------------------------------------- picking


@dataclass(frozen=True)
class SurfaceHit:
    """Where a ray meets a mesh: world point, face, barycentric weights of the
    face's three vertices, ray distance, and the texture coordinate (None when
    the mesh has no UVs)."""

    point: np.ndarray
    face: int
    barycentric: np.ndarray
    distance: float
    uv: np.ndarray | None


def pick_surface(mesh: Mesh, origin: np.ndarray, direction: np.ndarray, chunk: int = 65536) -> SurfaceHit | None:
    """The nearest hit of the ray (origin, direction) on `mesh` (both faces
    count; Moller-Trumbore), or None."""
    o = np.asarray(origin, np.float64)
    d = np.asarray(direction, np.float64)
    faces = np.asarray(mesh.faces)
    best = nearest_hit(o, d, mesh.vertices, faces, chunk)
    if best is None:
        return None
    t, face, b1, b2 = best
    bary = np.array([1.0 - b1 - b2, b1, b2])
    uv = None
    if mesh.uv is not None:
        uv = bary @ np.asarray(mesh.uv, np.float64)[faces[face]]
    return SurfaceHit(o + t * d, face, bary, t, uv)


def region_preview(maps: MaterialMaps, mask: np.ndarray | None, size: int = 128,
                   tint: tuple[float, float, float] = (1.0, 0.8, 0.1)) -> np.ndarray:
    """(size, size, 3) uint8: the albedo texture (sRGB, nearest-sampled) with
    the region tinted, for a UV-space look at a selection."""
    h, w = maps.resolution
    rows = (np.arange(size) * h // size).clip(0, h - 1)
    cols = (np.arange(size) * w // size).clip(0, w - 1)
    srgb = linear_to_srgb(np.clip(maps.albedo[rows][:, cols, :3], 0.0, 1.0).astype(np.float32))
    if mask is not None:
        m = mask[rows][:, cols][..., None]
        srgb = np.where(m, 0.45 * srgb + 0.55 * np.asarray(tint, np.float32), 0.6 * srgb)
    return (np.clip(srgb, 0, 1) * 255 + 0.5).astype(np.uint8)
