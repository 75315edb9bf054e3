"""Shadow maps for punctual lights, all in one depth atlas.

Each shadowed light owns views (tiles) of the atlas: one for a directional
light (orthographic, fitted to the scene's bounding sphere) or a spot light
(perspective over its outer cone), six for a point light (90-degree faces
+X, -X, +Y, -Y, +Z, -Z; the shader picks the face by the major axis of the
light-to-point vector, shaders/common/shadows.glsl). Maps depend only on the
lights and the mesh, so they are rendered when either changes, not per frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import moderngl
import numpy as np

from models.lighting import PunctualLight
from renderer.gl.programs import (
    LIGHT_KINDS,
    MAX_LIGHTS,
    LightUniforms,
    ShadowUniforms,
    bind_shadow,
)

POINT_FACES = (
    (np.array([1.0, 0, 0]), np.array([0, 1.0, 0])),
    (np.array([-1.0, 0, 0]), np.array([0, 1.0, 0])),
    (np.array([0, 1.0, 0]), np.array([0, 0, 1.0])),
    (np.array([0, -1.0, 0]), np.array([0, 0, 1.0])),
    (np.array([0, 0, 1.0]), np.array([0, 1.0, 0])),
    (np.array([0, 0, -1.0]), np.array([0, 1.0, 0])),
)
MAX_SPOT_FOV = math.radians(170.0)
ATLAS_LIMIT = 8192
POLYGON_OFFSET = (2.0, 4.0)
"""Slope-scaled and constant depth bias while rendering maps (glPolygonOffset)."""


def look_at_view(eye: np.ndarray, forward: np.ndarray, up: np.ndarray) -> np.ndarray:
    """World -> view matrix (OpenGL axes: the view looks down -z)."""
    f = forward / np.linalg.norm(forward)
    if abs(float(np.dot(f, up))) > 0.999 * np.linalg.norm(up):
        up = np.array([1.0, 0, 0]) if abs(f[0]) < 0.9 else np.array([0, 0, 1.0])
    r = np.cross(f, up)
    r /= np.linalg.norm(r)
    u = np.cross(r, f)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = r, u, -f
    m[:3, 3] = -m[:3, :3] @ eye
    return m


def perspective(fov_y: float, near: float, far: float) -> np.ndarray:
    """Square-aspect OpenGL perspective projection."""
    t = 1.0 / math.tan(0.5 * fov_y)
    return np.array(
        [[t, 0, 0, 0], [0, t, 0, 0], [0, 0, -(far + near) / (far - near), -2 * far * near / (far - near)], [0, 0, -1, 0]]
    )


def orthographic(half: float, near: float, far: float) -> np.ndarray:
    """Square OpenGL orthographic projection of half-width `half`."""
    return np.array(
        [[1 / half, 0, 0, 0], [0, 1 / half, 0, 0], [0, 0, -2 / (far - near), -(far + near) / (far - near)], [0, 0, 0, 1]]
    )


def _unit(v: Sequence[float]) -> np.ndarray:
    a = np.asarray(v, np.float64)
    n = np.linalg.norm(a)
    return a / n if n > 0 else np.array([0.0, -1.0, 0.0])


def light_views(
    light: PunctualLight, center: np.ndarray, radius: float, tile: int
) -> tuple[list[np.ndarray], tuple[float, float], tuple[float, float]]:
    """One light's views as world -> light-clip matrices, the world size of a
    shadow texel as (constant, per unit distance from the light), and the
    (near, far) planes (which the shader needs for point lights)."""
    radius = max(radius, 1e-6)
    if light.kind == "directional":
        d = _unit(light.direction)
        view = look_at_view(center - 2 * radius * d, d, np.array([0.0, 1, 0]))
        return [orthographic(radius, radius, 3 * radius) @ view], (2 * radius / tile, 0.0), (radius, 3 * radius)
    pos = np.asarray(light.position, np.float64)
    dist = float(np.linalg.norm(pos - center))
    near = max(dist - radius, 0.0) * 0.9 if dist > radius * 1.05 else 0.0
    near = max(near, radius * 2e-3)
    far = dist + radius * 1.05
    if light.kind == "spot":
        fov = min(2.0 * light.outer_cone * 1.05, MAX_SPOT_FOV)
        view = look_at_view(pos, _unit(light.direction), np.array([0.0, 1, 0]))
        return [perspective(fov, near, far) @ view], (0.0, 2 * math.tan(0.5 * fov) / tile), (near, far)
    proj = perspective(0.5 * math.pi, near, far)
    return [proj @ look_at_view(pos, f, up) for f, up in POINT_FACES], (0.0, 2.0 / tile), (near, far)


@dataclass(frozen=True)
class ShadowLayout:
    """Light k's views sit in row k of the atlas, view j in column j (six
    columns when any light is a point light, else one)."""

    views: list[list[np.ndarray]]  # per light, its world -> light-clip matrices
    texel_world: list[tuple[float, float]]  # per light
    depth: list[tuple[float, float]]  # per light (near, far)
    tile: int
    columns: int

    @property
    def atlas_size(self) -> tuple[int, int]:
        return self.columns * self.tile, max(1, len(self.views)) * self.tile

    def tile_rect(self, light: int, view: int) -> tuple[int, int, int, int]:
        """Pixel viewport (x, y, w, h) of a light's view."""
        return view * self.tile, light * self.tile, self.tile, self.tile


def plan_shadows(lights: Sequence[PunctualLight], center: np.ndarray, radius: float, tile: int) -> ShadowLayout:
    """Views of the first MAX_LIGHTS lights; the tile shrinks so that the
    atlas stays within ATLAS_LIMIT texels a side."""
    lights = list(lights)[:MAX_LIGHTS]
    columns = 6 if any(light.kind == "point" for light in lights) else 1
    while tile > 64 and max(columns, len(lights)) * tile > ATLAS_LIMIT:
        tile //= 2
    planned = [light_views(light, np.asarray(center, np.float64), radius, tile) for light in lights]
    return ShadowLayout(
        [p[0] for p in planned], [p[1] for p in planned], [p[2] for p in planned], tile, columns
    )


class ShadowAtlas:
    """The depth texture (compare mode, LINEAR = hardware PCF) and its framebuffer."""

    def __init__(self, ctx: moderngl.Context):
        self.ctx = ctx
        self.texture = self._make((1, 1))
        self.fbo = ctx.framebuffer(depth_attachment=self.texture)
        self.fbo.clear(depth=1.0)

    def _make(self, size: tuple[int, int]) -> moderngl.Texture:
        tex = self.ctx.depth_texture(size)
        tex.compare_func = "<="
        tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
        tex.repeat_x = tex.repeat_y = False
        return tex

    def render(self, layout: ShadowLayout, prog: moderngl.Program, vao: moderngl.VertexArray) -> None:
        """Draw the mesh into every view's tile."""
        if self.texture.size != layout.atlas_size:
            self.fbo.release()
            self.texture.release()
            self.texture = self._make(layout.atlas_size)
            self.fbo = self.ctx.framebuffer(depth_attachment=self.texture)
        ctx = self.ctx
        self.fbo.use()
        self.fbo.clear(depth=1.0)
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.disable(moderngl.CULL_FACE)
        ctx.depth_func = "<"
        ctx.polygon_offset = POLYGON_OFFSET
        for k, views in enumerate(layout.views):
            for j, matrix in enumerate(views):
                ctx.viewport = layout.tile_rect(k, j)
                bind_shadow(prog, ShadowUniforms(matrix))
                vao.render(moderngl.TRIANGLES)
        ctx.polygon_offset = (0.0, 0.0)

    def release(self) -> None:
        self.fbo.release()
        self.texture.release()


def pack_lights(lights: Sequence[PunctualLight], layout: ShadowLayout | None) -> LightUniforms:
    """The first MAX_LIGHTS lights as shader arrays; shadow data from `layout`
    (None: unshadowed)."""
    lights = list(lights)[:MAX_LIGHTS]
    u = LightUniforms(count=len(lights))
    for k, light in enumerate(lights):
        u.kind[k] = LIGHT_KINDS.index(light.kind)
        u.radiant[k] = np.asarray(light.color, np.float32) * np.float32(light.intensity)
        u.position[k] = light.position
        u.direction[k] = _unit(light.direction)
        u.cone[k] = (math.cos(light.inner_cone), math.cos(light.outer_cone))
    if layout is None:
        return u
    w, h = layout.atlas_size
    for k, views in enumerate(layout.views):
        u.shadow_enabled[k] = 1
        u.shadow_matrix[k] = views[0]
        u.shadow_depth[k] = layout.depth[k]
        x, y, tw, th = layout.tile_rect(k, 0)
        u.shadow_tile[k] = (x / w, y / h, tw / w, th / h)
        u.shadow_texel_world[k] = layout.texel_world[k]
    return replace(u, atlas_texel=(1.0 / w, 1.0 / h))
