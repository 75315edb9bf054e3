"""A torch reference render of a whole Scene through a Camera.

rasterize -> sample the material maps -> shade (environment + punctual lights,
baked AO and specular visibility, shadow rays for the lights) -> exposure and view transform -> RGBA.
Used by `main.py render --engine torch`, the sample-capture generator and the
GUI's exports; the ModernGL viewport implements the same shading.

Output (H, W, 4) float32:
- display (linear=False): RGB display-encoded in [0, 1] (exposure, the
  scene's view transform, sRGB), alpha = pixel coverage of the object;
- linear (linear=True): RGB linear radiance times 2^exposure (for EXR);
  alpha as above.
The background follows `scene.display.background` unless `background` says
otherwise: "environment" (the environment seen along each pixel ray, alpha
still the object's coverage), "color", or "transparent" (RGB 0 there).
With supersampling, RGB is *straight* (not premultiplied) colour wherever the
background is transparent, as RGBA PNG captures store it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import partial
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from models.camera import Camera
from models.scene import Background, Scene
from renderer.interreflection import bounce_light
from renderer.envmap import rotate_to_environment, sample_equirect, sample_specular
from renderer.raster import rasterize
from renderer.shade import EnvironmentTextures, MaterialSample, SurfaceSample, shade
from renderer.texture import sample_texture
from renderer.tonemap import display as display_transform
from renderer.tonemap import encode_srgb
from renderer.visibility import SpecularVisibility, vertex_bounce_rays, visibility_tensors

Channel = Literal["shaded", "diffuse", "specular", "albedo", "roughness", "metallic", "normal", "ao"]
CHANNELS: tuple[str, ...] = ("shaded", "diffuse", "specular", "albedo", "roughness", "metallic", "normal", "ao")
ENV_TABLE_WIDTH = 256
"""Width of the prefiltered environment tables (smaller maps keep their own)."""


def default_device() -> str:
    """'cuda' when a CUDA device is present, else 'cpu'."""
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class SceneRenderer:
    """Renders one Scene through any number of cameras; the material maps and
    the prefiltered environment are uploaded once.

    Build with `SceneRenderer.create(scene, device)`.
    """

    scene: Scene
    device: torch.device
    maps: Tensor  # (R,R,5) albedo rgb, roughness, metallic
    env: EnvironmentTextures
    radiance: Tensor  # (He,We,3) the environment as stored (background)
    faces: Tensor | None = None  # (F,3) int64, with visibility_maps
    visibility_maps: Tensor | None = None  # (V,R,R) renderer/visibility.py, None: AO alone dims specular
    visibility: SpecularVisibility | None = None  # the maps with their bounce light, for no points yet

    @staticmethod
    def create(scene: Scene, device: str | torch.device | None = None) -> "SceneRenderer":
        device = torch.device(device or default_device())
        env = scene.lighting.environment
        maps_t, tables = _packed_maps(scene, device), _tables(scene, device)
        vis = faces = located = None
        if scene.mesh.ao is not None:  # occlusion is baked: bake where it comes from, too
            vis, faces = visibility_tensors(scene.mesh, device) or (None, None)
        if vis is not None:  # and light the blocked directions with the object's own light
            empty = torch.zeros((0, 3), device=device)
            located = SpecularVisibility(vis, empty.long(), empty).with_bounce(_bounce(scene.mesh, vis, maps_t, tables))
        return SceneRenderer(
            scene,
            device,
            maps_t,
            tables,
            torch.as_tensor(np.ascontiguousarray(env.radiance[..., :3], np.float32), device=device),
            faces,
            vis,
            located,
        )

    def render(
        self,
        camera: Camera,
        channel: Channel = "shaded",
        linear: bool = False,
        background: Background | None = None,
        supersample: int = 1,
    ) -> np.ndarray:
        """RGBA (H, W, 4) float32 of `channel` seen by `camera` (see module doc)."""
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r} (one of {', '.join(CHANNELS)})")
        ss = max(1, int(supersample))
        cam = camera.without_distortion()
        big = cam if ss == 1 else _scaled_exact(cam, ss)
        rgb, alpha = self._render_linear(big, channel)  # (h,w,3) linear, (h,w)
        background = background or self.scene.display.background
        disp = self.scene.display
        exposure = disp.exposure_ev
        with torch.no_grad():
            if channel == "shaded":
                fg = display_transform(rgb, exposure, disp.view_transform) if not linear else rgb * 2.0**exposure
            elif channel in ("albedo", "diffuse", "specular"):
                fg = rgb if linear else encode_srgb(rgb.clamp(0, 1))
            else:
                fg = rgb
            if background == "environment":
                bg = self._background_linear(big)
                bg = display_transform(bg, exposure, disp.view_transform) if not linear else bg * 2.0**exposure
            elif background == "color":
                c = torch.tensor(disp.background_color, dtype=fg.dtype, device=fg.device)
                bg = (c if linear else encode_srgb(c)).expand_as(fg)
            else:
                bg = None
            a = alpha[..., None]
            if bg is None:
                out_rgb = _box_down(fg * a, ss)
                out_a = _box_down(a, ss)
                out_rgb = torch.where(out_a > 0, out_rgb / out_a.clamp_min(1e-8), torch.zeros_like(out_rgb))
            else:
                out_rgb = _box_down(fg * a + bg * (1 - a), ss)
                out_a = _box_down(a, ss)
            out = torch.cat([out_rgb, out_a], -1)
            if not linear:
                out = out.clamp(0.0, 1.0)
        return out.float().cpu().numpy()

    def _render_linear(self, camera: Camera, channel: str) -> tuple[Tensor, Tensor]:
        """(H,W,3) values of `channel` (linear) and coverage (H,W) float."""
        gb = rasterize(self.scene.mesh, camera, self.device)
        h, w = gb.height, gb.width
        out = torch.zeros((h * w, 3), dtype=torch.float32, device=self.device)
        idx = gb.covered_indices()
        if idx.numel():
            s = gb.gather(idx)
            visibility = None
            if self.visibility is not None:
                visibility = self.visibility.located(self.faces, s.triangle, s.barycentric)
            buffers = shade_samples(self, s.position, s.normal, s.view_dir, s.uv, s.ao, visibility)
            value = buffers[channel]
            if channel == "normal":
                value = value * 0.5 + 0.5
            if value.shape[-1] == 1:
                value = value.expand(-1, 3)
            out[idx] = value.float()
        return out.reshape(h, w, 3), gb.coverage.float()

    def _background_linear(self, camera: Camera) -> Tensor:
        """The environment along each pixel ray (H,W,3), blurred by
        display.background_blur (a roughness of the prefiltered chain)."""
        from renderer.gbuffer import pixel_directions

        d = pixel_directions(camera, self.device).reshape(-1, 3).float()
        env = self.scene.lighting.environment
        d_env = rotate_to_environment(d, env.rotation_deg)
        blur = float(self.scene.display.background_blur)
        if blur > 0:
            rough = torch.full((d.shape[0], 1), blur, device=self.device)
            value = sample_specular(self.env.specular, d_env, rough)
        else:
            value = sample_equirect(self.radiance, d_env)
        return (value * env.scale).reshape(camera.height, camera.width, 3)


def scene_bounce(
    scene: Scene, device: str | torch.device = "cpu", cancel: threading.Event | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The light `scene`'s object sends itself (renderer/interreflection.py:
    radiance maps (V,R,R,3) and irradiance (V,3), float32) under its
    material and environment, for the GL renderer; None where its mesh has
    no visibility maps (no baked AO, no Embree) or nothing lands on it.
    Raises renderer.bake_cache.BakeCancelled once `cancel` is set."""
    if scene.mesh is None or scene.mesh.ao is None:
        return None
    tensors = visibility_tensors(scene.mesh, device, cancel)
    if tensors is None:
        return None
    bounce = _bounce(scene.mesh, tensors[0], _packed_maps(scene, device), _tables(scene, device), cancel)
    return None if bounce is None else (bounce[0].cpu().numpy(), bounce[1].cpu().numpy())


def _packed_maps(scene: Scene, device: str | torch.device) -> Tensor:
    """The material maps as one (R,R,5) tensor: albedo rgb, roughness, metallic."""
    m = scene.material
    maps = np.concatenate([m.albedo[..., :3], m.roughness[..., None], m.metallic[..., None]], axis=-1)
    return torch.as_tensor(maps.astype(np.float32), device=device)


def _tables(scene: Scene, device: str | torch.device) -> EnvironmentTextures:
    """The environment prefiltered (at most ENV_TABLE_WIDTH wide)."""
    env = scene.lighting.environment
    width = min(ENV_TABLE_WIDTH, int(env.radiance.shape[1]))
    width -= width % 2
    return EnvironmentTextures.from_environment(env, device, levels=6, width=max(width, 8))


def _bounce(
    mesh, maps: Tensor, material: Tensor, tables: EnvironmentTextures, cancel: threading.Event | None = None
) -> tuple[Tensor, Tensor] | None:
    rays = vertex_bounce_rays(mesh)
    if rays is None or len(rays) == 0 or mesh.uv is None:
        return None
    return bounce_light(rays, mesh, maps, partial(material_at, material), tables, cancel=cancel)


def material_at(maps: Tensor, uv: Tensor) -> MaterialSample:
    """The material (N samples) of packed maps (R,R,5) at uv (N,2)."""
    m = sample_texture(maps, uv)  # (N,5)
    return MaterialSample(m[:, :3].clamp(0, 1), m[:, 3:4].clamp(0, 1), m[:, 4:5].clamp(0, 1))


def shade_samples(
    renderer: SceneRenderer,
    position: Tensor,
    normal: Tensor,
    view_dir: Tensor,
    uv: Tensor,
    ao: Tensor,
    specular_visibility: SpecularVisibility | None = None,
) -> dict[str, Tensor]:
    """Shade flat surface samples (N,...) of the renderer's scene: sample the
    maps at uv (N,2), add punctual lights with shadow rays, return shade()'s
    named buffers."""
    material = material_at(renderer.maps, uv)
    surface = SurfaceSample(position, normal, view_dir, ao, specular_visibility)
    lights = renderer.scene.lighting.lights
    visibility = None
    if lights:
        from renderer.ao import visibility_to_lights

        vis = visibility_to_lights(
            renderer.scene.mesh, position.detach().cpu().numpy(), normal.detach().cpu().numpy(), lights
        )
        visibility = torch.as_tensor(vis, device=position.device)
    with torch.no_grad():
        return shade(surface, material, renderer.env, lights, visibility)


def render_scene(
    scene: Scene,
    camera: Camera,
    *,
    device: str | torch.device | None = None,
    channel: Channel = "shaded",
    linear: bool = False,
    background: Background | None = None,
    supersample: int = 1,
) -> np.ndarray:
    """Render `scene` through `camera` as RGBA (H, W, 4) float32 (see module
    doc). For many cameras build a SceneRenderer once instead."""
    return SceneRenderer.create(scene, device).render(camera, channel, linear, background, supersample)


def _scaled_exact(camera: Camera, factor: int) -> Camera:
    """The camera for an image `factor` times larger (exact pixel grid)."""
    from dataclasses import replace

    return replace(
        camera,
        width=camera.width * factor,
        height=camera.height * factor,
        fx=camera.fx * factor,
        fy=camera.fy * factor,
        cx=camera.cx * factor,
        cy=camera.cy * factor,
    )


def _box_down(x: Tensor, factor: int) -> Tensor:
    """Average (H*f, W*f, C) -> (H, W, C) over f x f blocks."""
    if factor == 1:
        return x
    h, w, c = x.shape[0] // factor, x.shape[1] // factor, x.shape[2]
    return x.reshape(h, factor, w, factor, c).mean((1, 3))
