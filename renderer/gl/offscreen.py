"""Headless renders to numpy: a standalone EGL context, a float framebuffer
and a SceneRenderer, reused across calls (exports, CLI, tests)."""

from __future__ import annotations

from dataclasses import replace

import moderngl
import numpy as np

from models.camera import Camera
from models.scene import Scene
from renderer.gl.context import create_standalone_context, release_standalone_context
from renderer.gl.scene_renderer import SceneRenderer

MAX_SUPERSAMPLED_SIDE = 8192
"""Largest framebuffer side supersampling may use (8192^2 RGBA32F is 1 GiB)."""


class OffscreenRenderer:
    """Renders Scenes at a fixed size into an RGBA32F framebuffer.

    A camera of another size is rendered with its intrinsics scaled per axis
    to this size (the same view, resampled). With `supersample` s > 1 the
    framebuffer is s times larger per side and each pixel is the box-filtered
    mean of its s x s sub-pixels (anti-aliased silhouettes and texture
    detail); s is lowered where the GL cannot hold so large a framebuffer.
    """

    def __init__(self, width: int, height: int, ctx: moderngl.Context | None = None, supersample: int = 1):
        self.width, self.height = int(width), int(height)
        self.ctx = ctx if ctx is not None else create_standalone_context()
        self._owns_context = ctx is None
        limit = int(self.ctx.info.get("GL_MAX_RENDERBUFFER_SIZE", 4096))
        limit = min(limit, int(self.ctx.info.get("GL_MAX_TEXTURE_SIZE", limit)), MAX_SUPERSAMPLED_SIDE)
        self.supersample = max(1, min(int(supersample), limit // max(self.width, self.height, 1)))
        size = (self.width * self.supersample, self.height * self.supersample)
        self.renderer = SceneRenderer(self.ctx)
        self._color = self.ctx.texture(size, 4, dtype="f4")
        self._depth = self.ctx.depth_renderbuffer(size)
        self.fbo = self.ctx.framebuffer(color_attachments=[self._color], depth_attachment=self._depth)

    def render(
        self,
        scene: Scene,
        camera: Camera,
        channel: str = "shaded",
        linear: bool = False,
        *,
        wireframe: bool = False,
        grid: bool = False,
        interactive: bool = False,
    ) -> np.ndarray:
        """(H, W, 4) float32, row 0 = top. Display-encoded RGB in [0,1] unless
        `linear` (raw linear values); alpha 1 on the object and opaque
        backgrounds, 0 on a transparent background, fractional on
        supersampled silhouettes (RGB is then straight, not premultiplied).
        `interactive`: the viewport's cheaper frame while the user drags
        (SceneRenderer.render), e.g. to check it against torch."""
        self.renderer.set_scene(scene)
        s = self.supersample
        w, h = self.width * s, self.height * s
        if (camera.width, camera.height) != (w, h):
            sx, sy = w / camera.width, h / camera.height
            camera = replace(
                camera, width=w, height=h,
                fx=camera.fx * sx, fy=camera.fy * sy, cx=camera.cx * sx, cy=camera.cy * sy,
            )
        self.renderer.render(
            camera, self.fbo, channel=channel, linear_output=linear, wireframe=wireframe, grid=grid,
            interactive=interactive,
        )
        data = self.fbo.read(components=4, dtype="f4", viewport=(0, 0, w, h))
        image = np.frombuffer(data, np.float32).reshape(h, w, 4)[::-1]
        return np.ascontiguousarray(box_filter_rgba(image, s))

    def release(self) -> None:
        self.renderer.release()
        self.fbo.release()
        self._color.release()
        self._depth.release()
        if self._owns_context:
            release_standalone_context(self.ctx)

    def __enter__(self) -> OffscreenRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def box_filter_rgba(image: np.ndarray, factor: int) -> np.ndarray:
    """(H*f, W*f, 4) straight RGBA -> (H, W, 4): alpha is the mean coverage,
    RGB the alpha-weighted mean (straight again, so a half-covered edge pixel
    keeps the object's colour rather than fading towards the background's)."""
    if factor == 1:
        return image
    h, w = image.shape[0] // factor, image.shape[1] // factor
    blocks = image[: h * factor, : w * factor].reshape(h, factor, w, factor, 4)
    alpha = blocks[..., 3:4].mean((1, 3))
    weighted = (blocks[..., :3] * blocks[..., 3:4]).mean((1, 3))
    rgb = np.where(alpha > 1e-6, weighted / np.maximum(alpha, 1e-6), 0.0)
    return np.concatenate([rgb, alpha], -1).astype(np.float32)
