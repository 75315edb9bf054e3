"""The renderer's GL programs and one typed uniform-binding function each.

Each program is one file in resources/shaders; its uniforms are gathered in a
frozen dataclass and written by exactly one `bind_*` function, so a uniform's
name appears in Python once. Texture units are fixed per sampler (UNIT_*):
textures are bound to those units, samplers point at them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import moderngl
import numpy as np

from renderer import specular_lobe, tonemap
from renderer.tonemap import VIEW_TRANSFORMS
from renderer.visibility import VISIBILITY_SAMPLES
from renderer.gl.shader_source import SHADER_DIR, ShaderSourceError, load_program_source

MAX_LIGHTS = 8

CHANNELS: tuple[str, ...] = ("shaded", "albedo", "roughness", "metallic", "normal", "ao")
LIGHT_KINDS: tuple[str, ...] = ("point", "directional", "spot")
BACKGROUND_MODES: tuple[str, ...] = ("environment", "color")

UNIT_ALBEDO = 0
UNIT_ROUGHNESS = 1
UNIT_METALLIC = 2
UNIT_DFG = 3
UNIT_ENV_SPECULAR = 4
UNIT_ENV_IRRADIANCE = 5
UNIT_ENV_RADIANCE = 6
UNIT_SHADOW = 7
UNIT_DIELECTRIC_AVG = 8
UNIT_UPSCALE_SOURCE = 9
UNIT_VISIBILITY = 10
UNIT_FACES = 11
UNIT_VERTEX_POSITIONS = 12
UNIT_BOUNCE_IRRADIANCE = 13


def _glsl_mat3(rows: tuple[tuple[float, float, float], ...]) -> str:
    """tonemap's row-vector matrix R as GLSL `mat3(...)` with M * rgb == rgb @ R
    (GLSL fills columns, so R's rows listed in order become M's columns)."""
    return "mat3(" + ", ".join(repr(float(x)) for row in rows for x in row) + ")"


def shared_defines() -> dict[str, object]:
    """renderer.tonemap's and renderer.specular_lobe's constants as GLSL
    defines: the numbers live only there."""
    return {
        "TONEMAP_ACES_PRE_EXPOSURE": repr(float(tonemap.ACES_PRE_EXPOSURE)),
        "TONEMAP_ACES_INPUT": _glsl_mat3(tonemap.ACES_INPUT),
        "TONEMAP_ACES_OUTPUT": _glsl_mat3(tonemap.ACES_OUTPUT),
        "TONEMAP_AGX_INSET": _glsl_mat3(tonemap.AGX_INSET),
        "TONEMAP_AGX_OUTSET": _glsl_mat3(tonemap.AGX_OUTSET),
        "TONEMAP_AGX_MIN_EV": repr(float(tonemap.AGX_MIN_EV)),
        "TONEMAP_AGX_MAX_EV": repr(float(tonemap.AGX_MAX_EV)),
        "MAX_LIGHTS": MAX_LIGHTS,
        "LOBE_SAMPLE_BLUR": repr(float(specular_lobe.SAMPLE_BLUR)),
    }


def compile_program(
    ctx: moderngl.Context, name: str, defines: dict[str, object] | None = None, root: Path = SHADER_DIR
) -> moderngl.Program:
    """Load, preprocess and link <root>/<name> (root: resources/shaders);
    compiler messages name the .glsl file a line came from."""
    source = load_program_source(name, {**shared_defines(), **(defines or {})}, root)
    try:
        return ctx.program(
            vertex_shader=source.stages["vertex"],
            fragment_shader=source.stages.get("fragment"),
            geometry_shader=source.stages.get("geometry"),
        )
    except moderngl.Error as exc:
        raise ShaderSourceError(f"{name}: {source.describe_error(str(exc))}") from exc


# ----------------------------------------------------------------------------
# Writing uniforms
# ----------------------------------------------------------------------------


def _set(prog: moderngl.Program, name: str, value: object) -> None:
    """Set a scalar/vector uniform; uniforms the compiler removed are skipped."""
    if name in prog:
        prog[name].value = value  # type: ignore[union-attr]


def _write(prog: moderngl.Program, name: str, array: np.ndarray, dtype: str = "f4") -> None:
    """Write a matrix or uniform array as raw bytes (column-major for matrices:
    pass numpy matrices transposed)."""
    if name in prog:
        prog[name].write(np.ascontiguousarray(array, dtype).tobytes())  # type: ignore[union-attr]


def _mat(m: np.ndarray) -> np.ndarray:
    """A row-major numpy matrix (...,N,N) as GLSL's column-major float32 bytes order."""
    return np.ascontiguousarray(np.swapaxes(np.asarray(m, np.float32), -1, -2))


@dataclass(frozen=True)
class EnvironmentUniforms:
    """Per-frame environment values; the tables themselves are textures.

    rotation: 3x3 R_y(-rotation), world -> environment frame; scale: strength
    * 2^exposure (0 when there is no environment); levels: specular stack depth.
    """

    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    scale: float = 0.0
    levels: int = 1


@dataclass(frozen=True)
class LightUniforms:
    """Punctual lights packed into fixed-size arrays (MAX_LIGHTS) with their
    shadow-map data (shaders/common/lights.glsl, shadows.glsl; shadows.py)."""

    count: int = 0
    kind: np.ndarray = field(default_factory=lambda: np.zeros(MAX_LIGHTS, np.int32))
    radiant: np.ndarray = field(default_factory=lambda: np.zeros((MAX_LIGHTS, 3), np.float32))
    position: np.ndarray = field(default_factory=lambda: np.zeros((MAX_LIGHTS, 3), np.float32))
    direction: np.ndarray = field(default_factory=lambda: np.zeros((MAX_LIGHTS, 3), np.float32))
    cone: np.ndarray = field(default_factory=lambda: np.zeros((MAX_LIGHTS, 2), np.float32))
    shadow_enabled: np.ndarray = field(default_factory=lambda: np.zeros(MAX_LIGHTS, np.int32))
    shadow_matrix: np.ndarray = field(default_factory=lambda: np.tile(np.eye(4, dtype=np.float32), (MAX_LIGHTS, 1, 1)))
    shadow_depth: np.ndarray = field(default_factory=lambda: np.ones((MAX_LIGHTS, 2), np.float32))
    shadow_tile: np.ndarray = field(default_factory=lambda: np.zeros((MAX_LIGHTS, 4), np.float32))
    shadow_texel_world: np.ndarray = field(default_factory=lambda: np.zeros((MAX_LIGHTS, 2), np.float32))
    atlas_texel: tuple[float, float] = (1.0, 1.0)


@dataclass(frozen=True)
class MeshVariant:
    """The per-frame choices mesh.glsl is compiled for (software GL runs both
    sides of a run-time branch, so they are compile-time defines).

    shadow_taps: PCF taps per side (0: no shadow maps, 1: one tap, 2: 2 x 2).
    lobe_samples: environment lookups across the specular lobe
    (renderer/specular_lobe.py; 0: the classic split sum's single lookup).
    visibility: the mesh's specular visibility maps (common/visibility.glsl)
    weight the lobe samples, or with lobe_samples 0 give the single lookup's
    open share (renderer.specular_lobe.lobe_visibility).
    bounce: with visibility, the directions the maps block bring the
    object's own light (renderer/interreflection.py).
    """

    channel: str = "shaded"
    shadow_taps: int = 0
    view_transform: str = "standard"
    linear_output: bool = False
    lobe_samples: int = specular_lobe.RENDER_SAMPLES
    visibility: bool = False
    bounce: bool = False

    def defines(self) -> dict[str, object]:
        defines: dict[str, object] = {
            "CHANNEL": CHANNELS.index(self.channel),
            "SHADOW_TAPS": int(self.shadow_taps),
            "VIEW_TRANSFORM": VIEW_TRANSFORMS.index(self.view_transform),
            "LINEAR_OUTPUT": int(bool(self.linear_output)),
            "LOBE_SAMPLES": int(self.lobe_samples),
            "VISIBILITY": int(self.visibility),
            "BOUNCE": int(self.visibility and self.bounce),
        }
        if self.lobe_samples > 0:
            defines["LOBE_DISK_POINTS"] = _glsl_disk(int(self.lobe_samples))
        elif self.visibility:
            defines["VISIBILITY_SAMPLES"] = VISIBILITY_SAMPLES
            defines["VISIBILITY_DISK_POINTS"] = _glsl_disk(VISIBILITY_SAMPLES)
        return defines


def _glsl_disk(count: int) -> str:
    """renderer.specular_lobe.disk_points(count) as a GLSL vec2 array."""
    points = specular_lobe.disk_points(count)
    return "vec2[](" + ", ".join(f"vec2({x!r}, {y!r})" for x, y in points) + ")"


@dataclass(frozen=True)
class VisibilityUniforms:
    """The layout of textures.VisibilityTextures: atlas tiles per row, map
    resolution, texels per row of the index textures."""

    tiles: int = 1
    resolution: int = 1
    index_width: int = 1


@dataclass(frozen=True)
class MeshUniforms:
    view_proj: np.ndarray
    camera_position: np.ndarray
    exposure_ev: float
    environment: EnvironmentUniforms
    lights: LightUniforms
    visibility: VisibilityUniforms = VisibilityUniforms()


def bind_mesh(prog: moderngl.Program, u: MeshUniforms) -> None:
    """Every uniform of mesh.glsl (any variant)."""
    _write(prog, "u_view_proj", _mat(u.view_proj))
    _set(prog, "u_camera_position", tuple(float(x) for x in u.camera_position))
    _set(prog, "u_exposure_ev", float(u.exposure_ev))
    _set(prog, "u_albedo", UNIT_ALBEDO)
    _set(prog, "u_roughness", UNIT_ROUGHNESS)
    _set(prog, "u_metallic", UNIT_METALLIC)
    _set(prog, "u_dfg", UNIT_DFG)
    _set(prog, "u_dielectric_albedo_avg", UNIT_DIELECTRIC_AVG)
    _set(prog, "u_env_specular", UNIT_ENV_SPECULAR)
    _set(prog, "u_env_irradiance", UNIT_ENV_IRRADIANCE)
    _write(prog, "u_env_rotation", _mat(u.environment.rotation))
    _set(prog, "u_env_scale", float(u.environment.scale))
    _set(prog, "u_env_levels", float(u.environment.levels))
    lights = u.lights
    _set(prog, "u_light_count", int(lights.count))
    _write(prog, "u_light_kind", lights.kind, "i4")
    _write(prog, "u_light_radiant", lights.radiant)
    _write(prog, "u_light_position", lights.position)
    _write(prog, "u_light_direction", lights.direction)
    _write(prog, "u_light_cone", lights.cone)
    _set(prog, "u_shadow_atlas", UNIT_SHADOW)
    _write(prog, "u_shadow_enabled", lights.shadow_enabled, "i4")
    _write(prog, "u_shadow_matrix", _mat(lights.shadow_matrix))
    _write(prog, "u_shadow_depth", lights.shadow_depth)
    _write(prog, "u_shadow_tile", lights.shadow_tile)
    _write(prog, "u_shadow_texel_world", lights.shadow_texel_world)
    _set(prog, "u_shadow_atlas_texel", tuple(float(x) for x in lights.atlas_texel))
    _set(prog, "u_visibility", UNIT_VISIBILITY)
    _set(prog, "u_faces", UNIT_FACES)
    _set(prog, "u_vertex_positions", UNIT_VERTEX_POSITIONS)
    _set(prog, "u_bounce_irradiance", UNIT_BOUNCE_IRRADIANCE)
    _set(prog, "u_visibility_tiles", int(u.visibility.tiles))
    _set(prog, "u_visibility_resolution", int(u.visibility.resolution))
    _set(prog, "u_index_width", int(u.visibility.index_width))


@dataclass(frozen=True)
class CameraRayUniforms:
    """What full-screen passes need to rebuild each pixel's camera ray."""

    ndc_to_ray: tuple[float, float, float, float]
    rotation: np.ndarray  # 3x3 camera-to-world rotation
    position: np.ndarray  # (3,)
    view_proj: np.ndarray  # 4x4


@dataclass(frozen=True)
class BackgroundVariant:
    """The per-frame choices background.glsl is compiled for."""

    mode: str = "environment"
    blurred: bool = False
    view_transform: str = "standard"
    linear_output: bool = False

    def defines(self) -> dict[str, object]:
        return {
            "BACKGROUND_MODE": BACKGROUND_MODES.index(self.mode),
            "BACKGROUND_BLURRED": int(bool(self.blurred)),
            "VIEW_TRANSFORM": VIEW_TRANSFORMS.index(self.view_transform),
            "LINEAR_OUTPUT": int(bool(self.linear_output)),
        }


@dataclass(frozen=True)
class BackgroundUniforms:
    camera: CameraRayUniforms
    color: tuple[float, float, float]
    blur: float
    exposure_ev: float
    environment: EnvironmentUniforms


def bind_background(prog: moderngl.Program, u: BackgroundUniforms) -> None:
    """Every uniform of background.glsl (any variant)."""
    _set(prog, "u_ndc_to_ray", tuple(float(x) for x in u.camera.ndc_to_ray))
    _write(prog, "u_camera_rotation", _mat(u.camera.rotation))
    _set(prog, "u_color", tuple(float(x) for x in u.color))
    _set(prog, "u_blur", float(u.blur))
    _set(prog, "u_env_radiance", UNIT_ENV_RADIANCE)
    _set(prog, "u_env_specular", UNIT_ENV_SPECULAR)
    _write(prog, "u_env_rotation", _mat(u.environment.rotation))
    _set(prog, "u_env_scale", float(u.environment.scale))
    _set(prog, "u_env_levels", float(u.environment.levels))
    _set(prog, "u_exposure_ev", float(u.exposure_ev))


@dataclass(frozen=True)
class GridUniforms:
    """up: unit plane normal; axis_u, axis_v: in-plane orthonormal basis;
    height: the plane is dot(p, up) = height."""

    camera: CameraRayUniforms
    up: np.ndarray
    axis_u: np.ndarray
    axis_v: np.ndarray
    height: float
    cell: float
    extent: float
    line_color: tuple[float, float, float] = (0.55, 0.55, 0.55)
    x_axis_color: tuple[float, float, float] = (0.85, 0.3, 0.3)
    z_axis_color: tuple[float, float, float] = (0.3, 0.45, 0.9)


def bind_grid(prog: moderngl.Program, u: GridUniforms) -> None:
    """Every uniform of grid.glsl."""
    _set(prog, "u_ndc_to_ray", tuple(float(x) for x in u.camera.ndc_to_ray))
    _write(prog, "u_camera_rotation", _mat(u.camera.rotation))
    _set(prog, "u_camera_position", tuple(float(x) for x in u.camera.position))
    _write(prog, "u_view_proj", _mat(u.camera.view_proj))
    _set(prog, "u_up", tuple(float(x) for x in u.up))
    _set(prog, "u_axis_u", tuple(float(x) for x in u.axis_u))
    _set(prog, "u_axis_v", tuple(float(x) for x in u.axis_v))
    _set(prog, "u_height", float(u.height))
    _set(prog, "u_cell", float(u.cell))
    _set(prog, "u_extent", float(u.extent))
    _set(prog, "u_line_color", u.line_color)
    _set(prog, "u_x_axis_color", u.x_axis_color)
    _set(prog, "u_z_axis_color", u.z_axis_color)


@dataclass(frozen=True)
class ShadowUniforms:
    light_view_proj: np.ndarray  # 4x4 world -> light clip


def bind_shadow(prog: moderngl.Program, u: ShadowUniforms) -> None:
    """Every uniform of shadow_depth.glsl."""
    _write(prog, "u_light_view_proj", _mat(u.light_view_proj))


@dataclass(frozen=True)
class UpscaleUniforms:
    """upscale.glsl reads its source from UNIT_UPSCALE_SOURCE; nothing else."""


def bind_upscale(prog: moderngl.Program, u: UpscaleUniforms) -> None:
    """Every uniform of upscale.glsl."""
    _set(prog, "u_source", UNIT_UPSCALE_SOURCE)


@dataclass(frozen=True)
class WireframeUniforms:
    view_proj: np.ndarray
    color: tuple[float, float, float, float] = (0.05, 0.05, 0.05, 1.0)
    depth_offset: float = 2e-5


def bind_wireframe(prog: moderngl.Program, u: WireframeUniforms) -> None:
    """Every uniform of wireframe.glsl."""
    _write(prog, "u_view_proj", _mat(u.view_proj))
    _set(prog, "u_color", u.color)
    _set(prog, "u_depth_offset", float(u.depth_offset))


class Programs:
    """The compiled programs of one context. Each compiles once; mesh.glsl and
    background.glsl variants compile on first use and are kept (a handful
    per session)."""

    def __init__(self, ctx: moderngl.Context):
        self.ctx = ctx
        self.grid = compile_program(ctx, "grid.glsl")
        self.shadow = compile_program(ctx, "shadow_depth.glsl")
        self.wireframe = compile_program(ctx, "wireframe.glsl")
        self.upscale = compile_program(ctx, "upscale.glsl")
        self._mesh: dict[MeshVariant, moderngl.Program] = {}
        self._background: dict[BackgroundVariant, moderngl.Program] = {}
        self.mesh(MeshVariant())
        self.background(BackgroundVariant())

    def mesh(self, variant: MeshVariant) -> moderngl.Program:
        """The mesh program for `variant`, compiled on first use."""
        prog = self._mesh.get(variant)
        if prog is None:
            prog = self._mesh[variant] = compile_program(self.ctx, "mesh.glsl", variant.defines())
        return prog

    def background(self, variant: BackgroundVariant) -> moderngl.Program:
        """The background program for `variant`, compiled on first use."""
        prog = self._background.get(variant)
        if prog is None:
            prog = self._background[variant] = compile_program(self.ctx, "background.glsl", variant.defines())
        return prog

    @property
    def mesh_variants(self) -> dict[MeshVariant, moderngl.Program]:
        return dict(self._mesh)

    @property
    def background_variants(self) -> dict[BackgroundVariant, moderngl.Program]:
        return dict(self._background)

    def release(self) -> None:
        for prog in (self.grid, self.shadow, self.wireframe, self.upscale, *self._mesh.values(), *self._background.values()):
            prog.release()
        self._mesh.clear()
        self._background.clear()
