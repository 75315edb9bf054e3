"""GPU copies of material maps and environment tables.

Everything is uploaded as float32 with LINEAR filtering and no mipmaps, so a
lookup is the same bilinear/trilinear interpolation the torch renderer does
(renderer.texture, renderer.envmap); that is what the parity test holds.
Specular visibility maps are float16 already and go up as R16F (exact).

Row order: numpy row 0 is uploaded first and lands at t = 0. Material maps
store the top of the image (v = 1) in row 0, so shaders sample them at
t = 1 - v; environment maps store the top (+Y, v = 0) in row 0, so they are
sampled at t = v.

Updates keep the texture objects (and so the programs) when the shape is
unchanged: `texture.write` replaces the texels in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import moderngl
import numpy as np

from models.lighting import Environment
from models.material import MaterialMaps

if TYPE_CHECKING:
    from renderer.envmap import PrefilteredEnvironment


def _as_f4(a: np.ndarray, channels: int) -> np.ndarray:
    """(H,W[,C]) -> C-contiguous float32 (H,W,channels)."""
    a = np.asarray(a, np.float32)
    if a.ndim == 2:
        a = a[..., None]
    return np.ascontiguousarray(a[..., :channels])


def _texels(data: np.ndarray) -> np.ndarray:
    """Float32 texels as uploaded: RGB padded to RGBA (alpha 1), because
    software GL (llvmpipe) filters 4-channel float textures about twice as
    fast as 3-channel ones; the RGB values are unchanged."""
    data = np.asarray(data, np.float32)
    if data.shape[-1] == 3:
        data = np.concatenate([data, np.ones(data.shape[:-1] + (1,), np.float32)], -1)
    return np.ascontiguousarray(data)


def upload_2d(
    ctx: moderngl.Context,
    data: np.ndarray,
    *,
    repeat_x: bool = False,
    existing: moderngl.Texture | None = None,
) -> moderngl.Texture:
    """An (H,W,C) float32 array as a LINEAR, unmipmapped 2D texture (RGB as
    RGBA); writes into `existing` when its size and channels match (no new GL
    object)."""
    data = _texels(_as_f4(data, data.shape[2] if data.ndim == 3 else 1))
    h, w, c = data.shape
    if existing is not None and existing.size == (w, h) and existing.components == c:
        existing.write(data.tobytes())
        return existing
    if existing is not None:
        existing.release()
    tex = ctx.texture((w, h), c, data.tobytes(), dtype="f4", alignment=4)
    tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
    tex.repeat_x = repeat_x
    tex.repeat_y = False
    return tex


def upload_3d(ctx: moderngl.Context, data: np.ndarray) -> moderngl.Texture3D:
    """An (L,H,W,C) float32 stack as a LINEAR 3D texture (depth = L): REPEAT on
    x (longitude), CLAMP on y and z."""
    data = _texels(data)
    levels, h, w, c = data.shape
    tex = ctx.texture3d((w, h, levels), c, data.tobytes(), dtype="f4", alignment=4)
    tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
    tex.repeat_x = True
    tex.repeat_y = False
    tex.repeat_z = False
    return tex


class MaterialTextures:
    """Albedo (RGB), roughness (R) and metallic (R) maps as float32 textures."""

    def __init__(self, ctx: moderngl.Context, maps: MaterialMaps):
        self.ctx = ctx
        self.albedo = upload_2d(ctx, _as_f4(maps.albedo, 3))
        self.roughness = upload_2d(ctx, _as_f4(maps.roughness, 1))
        self.metallic = upload_2d(ctx, _as_f4(maps.metallic, 1))

    def update(self, maps: MaterialMaps) -> None:
        """Replace the texels in place (re-allocating only maps whose size changed)."""
        self.albedo = upload_2d(self.ctx, _as_f4(maps.albedo, 3), existing=self.albedo)
        self.roughness = upload_2d(self.ctx, _as_f4(maps.roughness, 1), existing=self.roughness)
        self.metallic = upload_2d(self.ctx, _as_f4(maps.metallic, 1), existing=self.metallic)

    def use(self, albedo_unit: int, roughness_unit: int, metallic_unit: int) -> None:
        self.albedo.use(albedo_unit)
        self.roughness.use(roughness_unit)
        self.metallic.use(metallic_unit)

    def release(self) -> None:
        for tex in (self.albedo, self.roughness, self.metallic):
            tex.release()


@dataclass
class EnvironmentTextures:
    """One environment's GPU tables: the radiance map (background), the
    prefiltered specular stack (3D) and the irradiance map.

    `source` keeps the radiance array the tables were made from alive, so its
    id() cannot be reused while this cache entry exists.
    """

    source: np.ndarray
    radiance: moderngl.Texture
    specular: moderngl.Texture3D
    irradiance: moderngl.Texture
    levels: int

    @staticmethod
    def create(ctx: moderngl.Context, env: Environment,
               prefiltered: PrefilteredEnvironment | None = None) -> "EnvironmentTextures":
        """Upload `env`'s tables; `prefiltered` (prefilter_environment of
        env.radiance, e.g. made on a worker thread) skips prefiltering here."""
        pre = prefiltered if prefiltered is not None else _prefilter(env.radiance)
        return EnvironmentTextures(
            source=env.radiance,
            radiance=upload_2d(ctx, _as_f4(env.radiance, 3), repeat_x=True),
            specular=upload_3d(ctx, pre.specular),
            irradiance=upload_2d(ctx, _as_f4(pre.irradiance, 3), repeat_x=True),
            levels=pre.levels,
        )

    @staticmethod
    def black(ctx: moderngl.Context) -> "EnvironmentTextures":
        """1x1 zero tables: what samplers read when there is no environment."""
        zero = np.zeros((1, 2, 3), np.float32)
        return EnvironmentTextures(
            source=zero,
            radiance=upload_2d(ctx, zero, repeat_x=True),
            specular=upload_3d(ctx, zero[None]),
            irradiance=upload_2d(ctx, zero, repeat_x=True),
            levels=1,
        )

    def update(self, ctx: moderngl.Context, radiance: np.ndarray,
               prefiltered: PrefilteredEnvironment | None = None) -> None:
        """Re-prefilter new radiance (or take `prefiltered`, its tables) and
        write it into these textures (in place where the sizes are
        unchanged), e.g. while a fit refines it."""
        pre = prefiltered if prefiltered is not None else _prefilter(radiance)
        self.source = radiance
        self.radiance = upload_2d(ctx, _as_f4(radiance, 3), repeat_x=True, existing=self.radiance)
        if self.specular.size == pre.specular.shape[2:0:-1] + (pre.levels,):
            self.specular.write(_texels(pre.specular).tobytes())
        else:
            self.specular.release()
            self.specular = upload_3d(ctx, pre.specular)
        self.irradiance = upload_2d(ctx, _as_f4(pre.irradiance, 3), repeat_x=True, existing=self.irradiance)
        self.levels = pre.levels

    def use(self, radiance_unit: int, specular_unit: int, irradiance_unit: int) -> None:
        self.radiance.use(radiance_unit)
        self.specular.use(specular_unit)
        self.irradiance.use(irradiance_unit)

    def release(self) -> None:
        for tex in (self.radiance, self.specular, self.irradiance):
            tex.release()


def _prefilter(radiance: np.ndarray) -> PrefilteredEnvironment:
    from renderer.envmap import prefilter_environment

    return prefilter_environment(radiance)


def upload_brdf_tables(ctx: moderngl.Context) -> tuple[moderngl.Texture, moderngl.Texture]:
    """The split-sum tables the BRDF reads, computed once in Python:
    renderer.envmap.dfg_table() as RG32F (x = NdotV, y = roughness) and
    renderer.envmap.dfg_dielectric_average() as an S x 1 R32F texture
    (x = roughness)."""
    from renderer.envmap import dfg_dielectric_average, dfg_table

    dfg = np.asarray(dfg_table(), np.float32)
    average = np.asarray(dfg_dielectric_average(dfg.shape[0]), np.float32)
    return upload_2d(ctx, dfg), upload_2d(ctx, average.reshape(1, -1, 1))


INDEX_WIDTH = 4096
"""Texels per row of the per-triangle and per-vertex lookup textures."""


@dataclass
class VisibilityTextures:
    """A mesh's specular visibility (renderer/visibility.py) as the fragment
    shader reads it (shaders/common/visibility.glsl):

    - `atlas` (R16F, LINEAR): vertex i's RxR octahedral map is the tile
      (i % tiles, i // tiles), row y of the map at texel row tile_y R + y;
      the maps hold float16 values, so R16F stores them exactly and hardware
      bilinear filtering inside a tile is the torch read;
    - `faces` (RGB32I) and `positions` (RGB32F), texel i at (i % INDEX_WIDTH,
      i // INDEX_WIDTH): triangle i's vertex indices (gl_PrimitiveID of an
      indexed draw is the triangle's row in mesh.faces) and vertex i's
      position, from which the shader recovers a fragment's barycentric
      weights (GLSL 3.30 has no built-in barycentrics).
    """

    atlas: moderngl.Texture
    faces: moderngl.Texture
    positions: moderngl.Texture
    tiles: int
    maps: np.ndarray
    bounce_irradiance: moderngl.Texture | None = None

    @staticmethod
    def create(ctx: moderngl.Context, vertices: np.ndarray, faces: np.ndarray, maps: np.ndarray) -> "VisibilityTextures":
        tiles = max(1, math.ceil(math.sqrt(maps.shape[0])))
        return VisibilityTextures(
            _atlas(ctx, maps, tiles),
            _index_texture(ctx, np.asarray(faces, np.int32), "i4"),
            _index_texture(ctx, np.asarray(vertices, np.float32), "f4"),
            tiles,
            maps,
        )

    @property
    def resolution(self) -> int:
        return int(self.maps.shape[-1])

    @property
    def bounce(self) -> bool:
        """Whether the atlas holds bounce light (RGBA) beside the maps."""
        return self.bounce_irradiance is not None

    def set_bounce(self, ctx: moderngl.Context, bounce: tuple[np.ndarray, np.ndarray] | None) -> None:
        """The object's own light (renderer/interreflection.py): radiance
        maps (V,R,R,3) go into the atlas's GBA beside the maps (RGBA16F:
        one read for both, as torch's), irradiance (V,3) into an RGB32F index
        texture like `positions`; None: back to the maps alone (R16F)."""
        self.atlas.release()
        if self.bounce_irradiance is not None:
            self.bounce_irradiance.release()
            self.bounce_irradiance = None
        if bounce is None:
            self.atlas = _atlas(ctx, self.maps, self.tiles)
            return
        self.atlas = _atlas(ctx, np.concatenate([self.maps[..., None].astype(np.float32), bounce[0]], -1), self.tiles)
        self.bounce_irradiance = _index_texture(ctx, np.asarray(bounce[1], np.float32), "f4")

    @staticmethod
    def fits(ctx: moderngl.Context, vertex_count: int, face_count: int, resolution: int) -> bool:
        """Whether the GL can hold these textures (its maximum texture side)."""
        limit = int(ctx.info.get("GL_MAX_TEXTURE_SIZE", 4096))
        side = max(1, math.ceil(math.sqrt(vertex_count))) * resolution
        return side <= limit and math.ceil(max(vertex_count, face_count) / INDEX_WIDTH) <= limit

    def use(self, atlas_unit: int, faces_unit: int, positions_unit: int, bounce_irradiance_unit: int | None = None) -> None:
        self.atlas.use(atlas_unit)
        self.faces.use(faces_unit)
        self.positions.use(positions_unit)
        if self.bounce_irradiance is not None and bounce_irradiance_unit is not None:
            self.bounce_irradiance.use(bounce_irradiance_unit)

    def release(self) -> None:
        for tex in (self.atlas, self.faces, self.positions, self.bounce_irradiance):
            if tex is not None:
                tex.release()


def _atlas(ctx: moderngl.Context, maps: np.ndarray, tiles: int) -> moderngl.Texture:
    """Per-vertex maps (V,R,R[,C]) as one float16 atlas (LINEAR): vertex i's
    map is the tile (i % tiles, i // tiles), map row y at texel row tile_y R + y."""
    count, res = maps.shape[0], maps.shape[1]
    channels = 1 if maps.ndim == 3 else maps.shape[-1]
    rows = math.ceil(count / tiles)
    padded = np.zeros((rows * tiles, res, res, channels), np.float16)
    padded[:count] = np.asarray(maps, np.float16).reshape(count, res, res, channels)
    texels = padded.reshape(rows, tiles, res, res, channels).transpose(0, 2, 1, 3, 4).reshape(rows * res, tiles * res, channels)
    atlas = ctx.texture((tiles * res, rows * res), channels, np.ascontiguousarray(texels).tobytes(), dtype="f2", alignment=2)
    atlas.filter = (moderngl.LINEAR, moderngl.LINEAR)
    atlas.repeat_x = atlas.repeat_y = False
    return atlas


def _index_texture(ctx: moderngl.Context, rows: np.ndarray, dtype: str) -> moderngl.Texture:
    """(N, 3) rows as an RGB texture of INDEX_WIDTH columns, NEAREST (texelFetch)."""
    height = max(1, math.ceil(len(rows) / INDEX_WIDTH))
    data = np.zeros((height * INDEX_WIDTH, 3), rows.dtype)
    data[: len(rows)] = rows
    tex = ctx.texture((INDEX_WIDTH, height), 3, data.tobytes(), dtype=dtype, alignment=4)
    tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
    return tex
