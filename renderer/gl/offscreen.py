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


class OffscreenRenderer:
    """Renders Scenes at a fixed size into an RGBA32F framebuffer.

    A camera of another size is rendered with its intrinsics scaled per axis
    to this size (the same view, resampled).
    """

    def __init__(self, width: int, height: int, ctx: moderngl.Context | None = None):
        self.width, self.height = int(width), int(height)
        self.ctx = ctx if ctx is not None else create_standalone_context()
        self._owns_context = ctx is None
        self.renderer = SceneRenderer(self.ctx)
        self._color = self.ctx.texture((self.width, self.height), 4, dtype="f4")
        self._depth = self.ctx.depth_renderbuffer((self.width, self.height))
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
    ) -> np.ndarray:
        """(H, W, 4) float32, row 0 = top. Display-encoded RGB in [0,1] unless
        `linear` (raw linear values); alpha 1 on the object and opaque
        backgrounds, 0 on a transparent background."""
        self.renderer.set_scene(scene)
        if (camera.width, camera.height) != (self.width, self.height):
            sx, sy = self.width / camera.width, self.height / camera.height
            camera = replace(
                camera, width=self.width, height=self.height,
                fx=camera.fx * sx, fy=camera.fy * sy, cx=camera.cx * sx, cy=camera.cy * sy,
            )
        self.renderer.render(
            camera, self.fbo, channel=channel, linear_output=linear, wireframe=wireframe, grid=grid
        )
        data = self.fbo.read(components=4, dtype="f4", viewport=(0, 0, self.width, self.height))
        image = np.frombuffer(data, np.float32).reshape(self.height, self.width, 4)
        return np.ascontiguousarray(image[::-1])

    def release(self) -> None:
        self.renderer.release()
        self.fbo.release()
        self._color.release()
        self._depth.release()
        if self._owns_context:
            release_standalone_context(self.ctx)

    def __enter__(self) -> "OffscreenRenderer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
