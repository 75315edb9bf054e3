"""SceneRenderer: draws a Scene into any moderngl framebuffer.

It works in a context someone else made (the Qt viewport's, through
moderngl.create_context() in initializeGL) as well as in a standalone one,
and takes its viewport from the framebuffer it is given. Programs compile
once; later changes (maps, environment, rotation, exposure, lights, display)
are texture writes or uniforms, never recompiles.

A frame: shadow maps (only when lights or mesh changed), the object with the
GLSL mirror of renderer.shade, the background where nothing was drawn, then
the optional reference grid and wireframe. Without a mesh ("empty scene") it
draws the background and the grid.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import moderngl
import numpy as np

from models.camera import Camera
from models.lighting import Environment, PunctualLight, rotation_y
from models.material import MaterialMaps
from models.mesh import Mesh
from models.scene import DisplaySettings, Scene
from renderer.gl.programs import (
    CHANNELS,
    UNIT_ALBEDO,
    UNIT_BOUNCE_IRRADIANCE,
    UNIT_DFG,
    UNIT_DIELECTRIC_AVG,
    UNIT_ENV_IRRADIANCE,
    UNIT_ENV_RADIANCE,
    UNIT_ENV_SPECULAR,
    UNIT_FACES,
    UNIT_METALLIC,
    UNIT_ROUGHNESS,
    UNIT_SHADOW,
    UNIT_UPSCALE_SOURCE,
    UNIT_VERTEX_POSITIONS,
    UNIT_VISIBILITY,
    BackgroundUniforms,
    BackgroundVariant,
    CameraRayUniforms,
    EnvironmentUniforms,
    GridUniforms,
    LightUniforms,
    MeshUniforms,
    MeshVariant,
    Programs,
    ShadowUniforms,
    UpscaleUniforms,
    VisibilityUniforms,
    WireframeUniforms,
    bind_background,
    bind_grid,
    bind_mesh,
    bind_shadow,
    bind_upscale,
    bind_wireframe,
)
from renderer.gl.lod import cluster_decimate
from renderer.gl.shadows import ShadowAtlas, ShadowLayout, pack_lights, plan_shadows
from renderer.gl.textures import INDEX_WIDTH, EnvironmentTextures, MaterialTextures, VisibilityTextures, upload_brdf_tables
from renderer.specular_lobe import RENDER_SAMPLES

if TYPE_CHECKING:
    from renderer.envmap import PrefilteredEnvironment

log = logging.getLogger(__name__)

INTERACTIVE_LOBE_SAMPLES = 0
"""Specular-lobe lookups of interactive frames (0: the classic single lookup;
still frames: RENDER_SAMPLES).
Software GL pays for every lookup; a moving camera does not show the rest."""
ENVIRONMENT_CACHE_SIZE = 2
"""Prefiltered environments kept on the GPU (switching back is free)."""


@dataclass
class _MeshBuffers:
    """A mesh's GPU buffers and the vertex arrays each program draws it with
    (one per mesh.glsl variant, made on first use)."""

    mesh: Mesh
    vbo: moderngl.Buffer
    ibo: moderngl.Buffer
    depth: moderngl.VertexArray
    wire: moderngl.VertexArray
    center: np.ndarray
    radius: float
    shaded: dict[int, moderngl.VertexArray] = field(default_factory=dict)

    def shaded_vao(self, ctx: moderngl.Context, prog: moderngl.Program) -> moderngl.VertexArray:
        vao = self.shaded.get(prog.glo)
        if vao is None:
            vao = self.shaded[prog.glo] = ctx.vertex_array(
                prog, [(self.vbo, "3f 3f 2f 1f", "in_position", "in_normal", "in_uv", "in_ao")], self.ibo, 4,
                skip_errors=True,  # a debug-channel variant may not read every attribute
            )
        return vao

    def release(self) -> None:
        for obj in (*self.shaded.values(), self.depth, self.wire, self.vbo, self.ibo):
            obj.release()


@dataclass(frozen=True)
class _Frame:
    """What one render() call asked for, passed to the passes that draw it."""

    camera: Camera
    mesh: _MeshBuffers | None
    channel: str
    linear_output: bool
    wireframe: bool
    grid: bool
    lights: LightUniforms
    shadow_taps: int
    lobe_samples: int


def interleave_vertices(mesh: Mesh) -> np.ndarray:
    """(V, 9) float32 rows: position, normal, uv (zeros without UVs), ao (1 without)."""
    n = len(mesh.vertices)
    uv = mesh.uv if mesh.uv is not None else np.zeros((n, 2), np.float32)
    ao = mesh.ao if mesh.ao is not None else np.ones(n, np.float32)
    return np.ascontiguousarray(
        np.concatenate([mesh.vertices, mesh.normals, uv, ao.reshape(n, 1)], axis=1), np.float32
    )


class SceneRenderer:
    """The real-time renderer of one GL context.

    shadow_map_size: texels per side of a shadow tile. shadow_taps: PCF taps
    per side on still frames (interactive frames take one). shadows: whether
    punctual lights cast shadows (renderer.shade without a visibility
    argument is the unshadowed case). specular_visibility: whether
    `set_scene` bakes and uses the mesh's specular visibility maps (False:
    AO's guess dims specular light, as without Embree). interactive_scale:
    resolution factor of interactive frames (1: callers that lower the
    resolution themselves, as app/viewport.py does, must not have it lowered
    twice); interactive_triangles: meshes above 1.5x this draw a clustered
    stand-in of about this many triangles while interactive
    (renderer/gl/lod.py). depth_prepass: lay depth down first so each pixel is
    shaded once (a win unless the mesh has far more triangles than pixels).
    """

    def __init__(
        self,
        ctx: moderngl.Context,
        *,
        shadow_map_size: int = 1024,
        shadow_taps: int = 2,
        shadows: bool = True,
        interactive_scale: float = 1.0,
        interactive_triangles: int = 50_000,
        depth_prepass: bool = True,
    ):
        self.ctx = ctx
        self.shadows = shadows
        self.specular_visibility = True
        self.programs = Programs(ctx)
        self.shadow_map_size = shadow_map_size
        self.shadow_taps = shadow_taps
        self.interactive_scale = interactive_scale
        self.interactive_triangles = interactive_triangles
        self.depth_prepass = depth_prepass
        self._dfg, self._dielectric_avg = upload_brdf_tables(ctx)
        self._fullscreen: dict[int, moderngl.VertexArray] = {}
        self._grid_vao = ctx.vertex_array(self.programs.grid, [])
        self._upscale_vao = ctx.vertex_array(self.programs.upscale, [])
        self._default_material = MaterialTextures(ctx, MaterialMaps.constant(1))
        self._black_environment = EnvironmentTextures.black(ctx)
        self._shadow_atlas = ShadowAtlas(ctx)
        self._reduced: tuple[tuple[tuple[int, int], bool], moderngl.Framebuffer] | None = None
        self._mesh: _MeshBuffers | None = None
        self._visibility: tuple[np.ndarray, VisibilityTextures] | None = None
        self._bounce: tuple[np.ndarray, np.ndarray] | None = None
        self._bounce_of: tuple[object, object, object] | None = None  # set_scene's mesh, material, environment
        self._proxy: _MeshBuffers | None = None
        self._material: MaterialTextures | None = None
        self._environment: Environment | None = None
        self._env_cache: OrderedDict[int, EnvironmentTextures] = OrderedDict()
        self._lights: tuple[PunctualLight, ...] = ()
        self._shadow_layout: ShadowLayout | None = None
        self._shadows_dirty = True
        self.display = DisplaySettings()
        self._world_up: tuple[np.ndarray, np.ndarray, np.ndarray] = (np.eye(3)[1], np.eye(3)[0], np.eye(3)[2])

    # ------------------------------------------------------------------ state

    def set_scene(self, scene: Scene) -> None:
        """Mesh, material, environment, lights and display of `scene`; a
        mesh with baked AO gets its specular visibility maps and the light
        it sends itself too (worked out here: callers on a GUI thread use
        set_mesh, set_visibility and set_bounce instead)."""
        self.set_mesh(scene.mesh)
        if self.specular_visibility and scene.mesh is not None and scene.mesh.ao is not None:
            from models.render_scene import scene_bounce
            from renderer.visibility import vertex_visibility

            self.set_visibility(vertex_visibility(scene.mesh))
            key = (scene.mesh, scene.material, scene.lighting.environment)
            if self._bounce_of is None or any(a is not b for a, b in zip(key, self._bounce_of)):
                self.set_bounce(scene_bounce(scene))
                self._bounce_of = key
        else:
            self.set_visibility(None)
        self.set_material(scene.material)
        self.set_environment(scene.lighting.environment)
        self.set_lights(scene.lighting.lights)
        self.set_display(scene.display)

    def set_mesh(self, mesh: Mesh | None) -> None:
        """Upload a mesh (None: the empty scene). The same object is a no-op."""
        if self._mesh is not None and self._mesh.mesh is mesh:
            return
        if self._mesh is not None:
            self._mesh.release()
            self._mesh = None
        if self._proxy is not None:
            self._proxy.release()
            self._proxy = None
        self._shadows_dirty = True
        self.set_visibility(None)
        if mesh is None or len(mesh.faces) == 0:
            return
        self._mesh = self._upload_mesh(mesh)

    def set_visibility(self, maps: np.ndarray | None) -> None:
        """The current mesh's specular visibility maps (V,R,R)
        (renderer.visibility.vertex_visibility), read by every frame that
        draws this mesh (not its interactive stand-in); None: specular light
        is dimmed by AO's guess. The same array is a no-op;
        maps of another mesh (other vertex count) or too large for this GL
        are ignored, with a log line."""
        if self._visibility is not None and self._visibility[0] is maps:
            return
        if self._visibility is not None:
            self._visibility[1].release()
            self._visibility = None
        self._bounce = self._bounce_of = None
        if maps is None or self._mesh is None:
            return
        mesh = self._mesh.mesh
        if maps.shape[0] != len(mesh.vertices):
            log.warning("visibility maps for %d vertices ignored: the mesh has %d", maps.shape[0], len(mesh.vertices))
            return
        if not VisibilityTextures.fits(self.ctx, len(mesh.vertices), len(mesh.faces), maps.shape[-1]):
            log.warning("visibility maps of %d vertices exceed this GL's texture size: AO's guess instead", len(maps))
            return
        self._visibility = (maps, VisibilityTextures.create(self.ctx, mesh.vertices, mesh.faces, maps))

    def set_bounce(self, bounce: tuple[np.ndarray, np.ndarray] | None) -> None:
        """The light the current mesh sends itself under the current
        material and environment (models.render_scene.scene_bounce:
        radiance maps (V,R,R,3), irradiance (V,3)), which frames reading
        the visibility maps add; None: none. The same tuple is a no-op;
        without visibility maps, or for another vertex count, ignored."""
        if self._visibility is None or self._bounce is bounce:
            return
        self._bounce = bounce
        maps, textures = self._visibility
        if bounce is not None and bounce[0].shape[:3] != maps.shape:
            log.warning("bounce light for %d vertices ignored: the maps have %d", bounce[0].shape[0], maps.shape[0])
            bounce = None
        textures.set_bounce(self.ctx, bounce)

    def _upload_mesh(self, mesh: Mesh) -> _MeshBuffers:
        ctx, progs = self.ctx, self.programs
        vbo = ctx.buffer(interleave_vertices(mesh).tobytes())
        ibo = ctx.buffer(np.ascontiguousarray(mesh.faces, np.int32).tobytes())
        depth = ctx.vertex_array(progs.shadow, [(vbo, "3f 24x", "in_position")], ibo, 4)
        wire = ctx.vertex_array(progs.wireframe, [(vbo, "3f 24x", "in_position")], ibo, 4)
        center, radius = mesh.bounding_sphere()
        return _MeshBuffers(mesh, vbo, ibo, depth, wire, center, max(radius, 1e-6))

    def _interactive_mesh(self) -> _MeshBuffers | None:
        """The mesh interactive frames draw: a clustered stand-in for meshes
        above 1.5 x interactive_triangles (made on first use, then kept)."""
        if self._mesh is None or len(self._mesh.mesh.faces) <= 1.5 * self.interactive_triangles:
            return self._mesh
        if self._proxy is None:
            self._proxy = self._upload_mesh(cluster_decimate(self._mesh.mesh, self.interactive_triangles))
        return self._proxy

    def set_material(self, maps: MaterialMaps | None) -> None:
        """Write the maps into the material textures (new textures only when a
        map's size changes). None: a constant grey dielectric."""
        if maps is None:
            if self._material is not None:
                self._material.release()
            self._material = None
        elif self._material is None:
            self._material = MaterialTextures(self.ctx, maps)
        else:
            self._material.update(maps)

    def set_environment(self, env: Environment | None, *, refresh: bool = False,
                        prefiltered: PrefilteredEnvironment | None = None) -> None:
        """Use `env` for lighting and background. Prefiltered tables are cached
        by the identity of `env.radiance`, so a new Environment that only
        changes rotation, exposure or strength (dataclasses.replace) costs
        nothing. `refresh` re-prefilters the same array after it was edited
        in place (written into the existing textures).

        Prefiltering a new radiance map takes about a second per megapixel;
        an interactive caller makes `prefiltered` =
        renderer.envmap.prefilter_environment(env.radiance) on a worker
        thread and passes it here (see `has_environment`), so this call only
        uploads textures."""
        self._environment = env
        if env is None:
            return
        key = id(env.radiance)
        cached = self._env_cache.get(key)
        if cached is not None and cached.source is env.radiance:
            self._env_cache.move_to_end(key)
            if refresh:
                cached.update(self.ctx, env.radiance, prefiltered)
            return
        if cached is not None:  # an id() reused by another array: drop the stale tables
            cached.release()
            del self._env_cache[key]
        self._env_cache[key] = EnvironmentTextures.create(self.ctx, env, prefiltered)
        while len(self._env_cache) > ENVIRONMENT_CACHE_SIZE:
            _, old = self._env_cache.popitem(last=False)
            old.release()

    def has_environment(self, radiance: np.ndarray) -> bool:
        """Whether tables of this very radiance array are on the GPU, i.e.
        set_environment with it needs no prefiltering."""
        cached = self._env_cache.get(id(radiance))
        return cached is not None and cached.source is radiance

    def set_lights(self, lights: Sequence[PunctualLight]) -> None:
        """Punctual lights (the first MAX_LIGHTS are drawn)."""
        lights = tuple(lights)
        if lights != self._lights:
            self._lights = lights
            self._shadows_dirty = True

    def set_display(self, display: DisplaySettings) -> None:
        self.display = display

    def set_world_up(self, up: Sequence[float]) -> None:
        """The ground grid lies across this axis (+Y for glTF scenes, +Z for
        captures in Blender's convention), under the mesh's lowest point."""
        u = np.asarray(up, np.float64)
        u = u / max(float(np.linalg.norm(u)), 1e-12)
        reference = np.array([1.0, 0.0, 0.0]) if abs(u[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        axis_u = reference - u * float(reference @ u)
        axis_u /= np.linalg.norm(axis_u)
        self._world_up = (u, axis_u, np.cross(axis_u, u))

    # ----------------------------------------------------------------- render

    def render(
        self,
        camera: Camera,
        fbo: moderngl.Framebuffer,
        *,
        channel: str = "shaded",
        linear_output: bool = False,
        wireframe: bool = False,
        grid: bool = False,
        interactive: bool = False,
    ) -> None:
        """Draw one frame of `camera` into `fbo` (over `fbo.viewport`).

        channel: one of CHANNELS (renderer.shade's buffers). linear_output:
        raw linear values (no exposure, view transform or encoding), for
        parity tests and EXR. grid: the reference grid under the object (it
        is always drawn when there is no mesh). interactive: a cheaper frame
        for while the user drags: drawn at `interactive_scale` of the
        viewport and stretched, dense meshes replaced by a coarser stand-in,
        one-tap shadow lookups, stale shadow maps skipped rather than
        re-rendered, the environment's specular read with
        INTERACTIVE_LOBE_SAMPLES lookups instead of 32.
        """
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; expected one of {CHANNELS}")
        lights, taps = self._prepare_shadows(interactive)
        mesh = self._interactive_mesh() if interactive else self._mesh
        lobe = INTERACTIVE_LOBE_SAMPLES if interactive else RENDER_SAMPLES
        frame = _Frame(camera, mesh, channel, linear_output, wireframe, grid or self._mesh is None, lights, taps, lobe)
        _, _, w, h = fbo.viewport
        scale = self.interactive_scale if interactive else 1.0
        if scale >= 1.0:
            self._draw(frame, fbo)
            return
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        target = self._reduced_target(size, linear_output)
        self._draw(frame, target)
        fbo.use()
        ctx = self.ctx
        ctx.disable(moderngl.DEPTH_TEST | moderngl.BLEND)
        target.color_attachments[0].use(UNIT_UPSCALE_SOURCE)
        bind_upscale(self.programs.upscale, UpscaleUniforms())
        self._upscale_vao.render(moderngl.TRIANGLES, vertices=3)
        ctx.enable(moderngl.DEPTH_TEST)

    def _draw(self, f: _Frame, fbo: moderngl.Framebuffer) -> None:
        """Object, background, grid and wireframe of one frame into `fbo`."""
        ctx = self.ctx
        center, radius = self._bounds()
        near, far, extent = self._depth_range(f.camera, center, radius)
        proj = f.camera.gl_projection(near, far)
        view_proj = proj @ f.camera.w2c
        rays = CameraRayUniforms(
            (proj[0, 0], proj[1, 1], proj[0, 2], proj[1, 2]), f.camera.c2w[:3, :3], f.camera.position, view_proj
        )
        env_u, env_tex = self._environment_state()

        fbo.use()
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0, viewport=fbo.viewport)
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.disable(moderngl.BLEND | moderngl.CULL_FACE)
        ctx.wireframe = False
        self._dfg.use(UNIT_DFG)
        self._dielectric_avg.use(UNIT_DIELECTRIC_AVG)
        env_tex.use(UNIT_ENV_RADIANCE, UNIT_ENV_SPECULAR, UNIT_ENV_IRRADIANCE)
        self._shadow_atlas.texture.use(UNIT_SHADOW)

        if f.mesh is not None:
            (self._material or self._default_material).use(UNIT_ALBEDO, UNIT_ROUGHNESS, UNIT_METALLIC)
            ctx.depth_func = "<"
            if self.depth_prepass:
                # Depth first, then shade only the visible surface (software GL
                # shades every fragment that passes, including hidden ones).
                fbo.color_mask = (False, False, False, False)
                bind_shadow(self.programs.shadow, ShadowUniforms(view_proj))
                f.mesh.depth.render(moderngl.TRIANGLES)
                fbo.color_mask = (True, True, True, True)
                ctx.depth_func = "<="
            visibility = self._visibility[1] if self._visibility is not None and f.mesh is self._mesh else None
            variant = MeshVariant(
                f.channel, f.shadow_taps, self.display.view_transform, f.linear_output, f.lobe_samples,
                visibility is not None and f.channel == "shaded", visibility is not None and visibility.bounce,
            )
            prog = self.programs.mesh(variant)
            vis_u = VisibilityUniforms()
            if visibility is not None:
                visibility.use(UNIT_VISIBILITY, UNIT_FACES, UNIT_VERTEX_POSITIONS, UNIT_BOUNCE_IRRADIANCE)
                vis_u = VisibilityUniforms(visibility.tiles, visibility.resolution, INDEX_WIDTH)
            bind_mesh(prog, MeshUniforms(view_proj, f.camera.position, self.display.exposure_ev, env_u, f.lights, vis_u))
            f.mesh.shaded_vao(ctx, prog).render(moderngl.TRIANGLES)

        ctx.depth_func = "<="
        if self.display.background != "transparent":
            blur = max(0.0, min(1.0, self.display.background_blur))
            variant = BackgroundVariant(self.display.background, blur > 0.0, self.display.view_transform, f.linear_output)
            prog = self.programs.background(variant)
            bind_background(
                prog, BackgroundUniforms(rays, self.display.background_color, blur, self.display.exposure_ev, env_u)
            )
            self._fullscreen_vao(prog).render(moderngl.TRIANGLES, vertices=3)

        if f.grid:
            up, axis_u, axis_v = self._world_up
            height = float((self._mesh.mesh.vertices @ up).min()) if self._mesh is not None else 0.0
            cell = 10.0 ** math.floor(math.log10(max(radius, 1e-6)) - 0.5)
            ctx.enable(moderngl.BLEND)
            ctx.blend_func = (moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA, moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA)
            fbo.depth_mask = False
            bind_grid(self.programs.grid, GridUniforms(rays, up, axis_u, axis_v, height, cell, extent))
            self._grid_vao.render(moderngl.TRIANGLES, vertices=3)
            fbo.depth_mask = True
            ctx.disable(moderngl.BLEND)

        if f.wireframe and f.mesh is not None:
            ctx.wireframe = True
            bind_wireframe(self.programs.wireframe, WireframeUniforms(view_proj))
            f.mesh.wire.render(moderngl.TRIANGLES)
            ctx.wireframe = False
        ctx.depth_func = "<"

    def _fullscreen_vao(self, prog: moderngl.Program) -> moderngl.VertexArray:
        """A buffer-less vertex array for a full-screen program (one per program)."""
        vao = self._fullscreen.get(prog.glo)
        if vao is None:
            vao = self._fullscreen[prog.glo] = self.ctx.vertex_array(prog, [])
        return vao

    def _reduced_target(self, size: tuple[int, int], linear: bool) -> moderngl.Framebuffer:
        """The cached offscreen target of interactive frames (float when linear)."""
        key = (size, linear)
        if self._reduced is not None and self._reduced[0] == key:
            return self._reduced[1]
        self._release_reduced()
        color = self.ctx.texture(size, 4, dtype="f2" if linear else "f1")
        color.filter = (moderngl.LINEAR, moderngl.LINEAR)
        color.repeat_x = color.repeat_y = False
        target = self.ctx.framebuffer([color], self.ctx.depth_renderbuffer(size))
        self._reduced = (key, target)
        return target

    def _release_reduced(self) -> None:
        if self._reduced is not None:
            target = self._reduced[1]
            for attachment in (*target.color_attachments, target.depth_attachment):
                attachment.release()
            target.release()
            self._reduced = None

    # ---------------------------------------------------------------- helpers

    def _bounds(self) -> tuple[np.ndarray, float]:
        """The mesh's bounding sphere, or a unit sphere at the origin when empty."""
        if self._mesh is None:
            return np.zeros(3), 1.0
        return self._mesh.center, self._mesh.radius

    @staticmethod
    def _depth_range(camera: Camera, center: np.ndarray, radius: float) -> tuple[float, float, float]:
        """Near and far planes around the scene and the grid's fade distance."""
        dist = float(np.linalg.norm(camera.position - center))
        extent = max(20.0 * radius, 4.0 * dist)
        near = max(0.5 * (dist - radius), 1e-3 * radius, 1e-4 * extent)
        far = 1.01 * (dist + max(radius, extent))
        return near, far, extent

    def _environment_state(self) -> tuple[EnvironmentUniforms, EnvironmentTextures]:
        env = self._environment
        if env is None:
            return EnvironmentUniforms(), self._black_environment
        tex = self._env_cache[id(env.radiance)]
        return EnvironmentUniforms(rotation_y(-env.rotation_deg), env.scale, tex.levels), tex

    def _prepare_shadows(self, interactive: bool) -> tuple[LightUniforms, int]:
        """Light uniforms and PCF taps per side (0: unshadowed) for this frame,
        re-rendering shadow maps when the lights or mesh changed; while
        interactive, stale maps are skipped (unshadowed) and lookups take one tap."""
        if not self._lights or self._mesh is None or not self.shadows:
            return pack_lights(self._lights, None), 0
        if self._shadows_dirty:
            if interactive:
                return pack_lights(self._lights, None), 0
            self._shadow_layout = plan_shadows(self._lights, self._mesh.center, self._mesh.radius, self.shadow_map_size)
            self._shadow_atlas.render(self._shadow_layout, self.programs.shadow, self._mesh.depth)
            self._shadows_dirty = False
        return pack_lights(self._lights, self._shadow_layout), 1 if interactive else self.shadow_taps

    def release(self) -> None:
        """Free every GL object this renderer made (not the context)."""
        for buffers in (self._mesh, self._proxy):
            if buffers is not None:
                buffers.release()
        self.set_visibility(None)
        if self._material is not None:
            self._material.release()
        for tex in self._env_cache.values():
            tex.release()
        self._env_cache.clear()
        self._default_material.release()
        self._black_environment.release()
        self._shadow_atlas.release()
        self._dfg.release()
        self._dielectric_avg.release()
        for vao in self._fullscreen.values():
            vao.release()
        self._grid_vao.release()
        self._upscale_vao.release()
        self._release_reduced()
        self.programs.release()
