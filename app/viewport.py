"""The 3D viewport: a QOpenGLWidget hosting renderer/gl's SceneRenderer.

Mouse and keys become `OrbitNavigator` moves (the maths lives in
models/navigation.py); while the camera moves the scene is rendered at a
fraction of the resolution and upscaled, and a single-shot timer refines it
to full resolution once the user stops.

Controls: LMB drag orbits; MMB or Shift+LMB drag pans; the wheel zooms;
RMB drag looks around and WASD (Q/E down/up, Shift faster) flies; a double
click on the object re-centres the orbit there.

A new environment map is prefiltered on a worker thread
(app.environment_prefilter); the previous one stays on screen until its
tables are ready (`environmentProgress` says what is being prepared). A mesh
with baked AO has its specular visibility maps baked on another
(app.visibility_baker); AO's guess stands in until they arrive. The light
the object sends itself (one bounce) is worked out there too, again once
material and environment edits settle; the previous one stays meanwhile.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import moderngl
import numpy as np
from PySide6.QtCore import QElapsedTimer, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QGuiApplication, QImage, QKeyEvent, QMouseEvent, QPainter, QWheelEvent
from PySide6.QtOpenGLWidgets import QOpenGLWidget
from PySide6.QtWidgets import QWidget

from models.camera import Camera
from models.errors import RelitError
from models.imageio import load_image
from models.lighting import Environment, PunctualLight
from models.material import MaterialMaps
from models.mesh import Mesh
from models.material_edits import SurfaceHit, pick_surface
from models.navigation import OrbitNavigator, pixel_ray
from models.scene import DisplaySettings
from renderer.gl.programs import CHANNELS

from app.environment_prefilter import EnvironmentPrefilter
from app.visibility_baker import VisibilityBaker

if TYPE_CHECKING:
    from renderer.gl.scene_renderer import SceneRenderer

log = logging.getLogger(__name__)

INTERACTIVE_SCALE = 0.5
REFINE_DELAY_MS = 150
ORBIT_RAD_PER_PX = 0.008
LOOK_RAD_PER_PX = 0.004
FLY_TICK_MS = 16
_FLY_KEYS = {
    Qt.Key.Key_W: (1, 0, 0), Qt.Key.Key_S: (-1, 0, 0),
    Qt.Key.Key_D: (0, 1, 0), Qt.Key.Key_A: (0, -1, 0),
    Qt.Key.Key_E: (0, 0, 1), Qt.Key.Key_Q: (0, 0, -1),
}
# Scene parts forwarded to SceneRenderer setters, in the order they must apply.
# Until a scene brings its own: a dark backdrop and, once there is a mesh to
# light, even white light so it reads clearly (prefiltering costs ~1 s, so an
# empty viewport does without).
DEFAULT_DISPLAY = DisplaySettings(background="color", background_color=(0.03, 0.032, 0.036))
PREVIEW_HDRI = Path(__file__).resolve().parents[1] / "resources" / "hdri" / "studio.hdr"
# Scene parts handed to SceneRenderer's set_<part>, in this order. `world_up`
# goes only to a renderer that has set_world_up (the grid's plane);
# `visibility` (the mesh's specular visibility maps) right after its mesh,
# `bounce` (the light it sends itself: after its maps) once worked out for
# the current material and environment.
_SCENE_PARTS = ("mesh", "visibility", "material", "environment", "bounce", "lights", "display", "world_up")
# Edits that arrive in quick runs (sliders, drags, a fit's previews): drawn as
# interactive frames until they pause, like a moving camera. A still frame
# reads the environment 32 times per pixel (renderer/specular_lobe.py), which
# software GL pays for (~0.17 s at 960x540 on llvmpipe; BENCHMARKS.md).
_EDITED_PARTS = frozenset({"material", "environment", "lights", "display"})


BOUNCE_SETTLE_MS = 1500
"""Material and environment edits this long apart re-light the bounce."""


def _same_key(a: tuple[Any, ...] | None, b: tuple[Any, ...] | None) -> bool:
    return a is not None and b is not None and all(x is y for x, y in zip(a, b))


class Viewport(QOpenGLWidget):
    """Shows the scene through an orbiting camera; emits `cameraChanged` on every move."""

    cameraChanged = Signal()
    environmentProgress = Signal(str)  # "Preparing lighting: <name>…" while prefiltering, "" when done

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("viewport")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(160, 120)
        self.navigator = OrbitNavigator()
        self.channel = "shaded"
        self.wireframe = False
        self.grid = True
        self.scene_center = np.zeros(3)
        self.scene_radius = 1.0
        self.render_scale = 1.0
        self.frames_rendered = 0
        self.last_render_size = (0, 0)
        self.gl_renderer = "none"  # GL_RENDERER of the context, for About and bug reports
        self.gl_error: str | None = None
        self._ctx: moderngl.Context | None = None
        self._renderer: SceneRenderer | None = None
        self._presenter: _Presenter | None = None
        # Latest value of each scene part.
        self._scene: dict[str, Any] = {"display": DEFAULT_DISPLAY}
        self._pending: dict[str, Any] = {}  # parts not yet handed to the renderer
        self._mesh: Mesh | None = None
        self._drag: tuple[str, QPointF] | None = None
        self._keys: set[int] = set()
        self._refine = QTimer(self, singleShot=True, interval=REFINE_DELAY_MS)
        self._refine.timeout.connect(self._refine_now)
        self._fly_timer = QTimer(self, interval=FLY_TICK_MS)
        self._fly_timer.timeout.connect(self._fly_step)
        self._fly_clock = QElapsedTimer()
        self.prefilter = EnvironmentPrefilter(self)
        self.prefilter.ready.connect(self._environment_ready)
        self.prefilter.failed.connect(self._environment_failed)
        self.prefilter.busyChanged.connect(
            lambda name: self.environmentProgress.emit(f"Preparing lighting: {name}…" if name else ""))
        self.visibility_baker = VisibilityBaker(self)
        self.visibility_baker.ready.connect(self._visibility_ready)
        self.visibility_baker.bounce_ready.connect(self._bounce_ready)
        # The bounce light follows material and environment edits once they
        # settle (a fit's previews or a drag would keep a core busy with it).
        self._bounce_timer = QTimer(self, singleShot=True, interval=BOUNCE_SETTLE_MS)
        self._bounce_timer.timeout.connect(self._request_bounce)
        self._bounce_of: tuple[Any, ...] | None = None  # what the shown bounce light was worked out for
        self._default_material = MaterialMaps.constant(1)  # what the renderer shows without maps

    # ---- public API ---------------------------------------------------------
    def camera(self) -> Camera:
        """The current view at the widget's physical (device) pixel size."""
        w, h = self.physical_size()
        return self.navigator.camera(w, h)

    def physical_size(self) -> tuple[int, int]:
        dpr = self.devicePixelRatioF()
        return max(1, round(self.width() * dpr)), max(1, round(self.height() * dpr))

    def set_navigator(self, navigator: OrbitNavigator, interactive: bool = False) -> None:
        self.navigator = navigator
        if interactive:
            self._start_interaction()
        self.cameraChanged.emit()
        self.update()

    def set_scene_bounds(self, center: np.ndarray, radius: float) -> None:
        """The bounding sphere that Frame (F) fits and fly speed scales with."""
        self.scene_center = np.asarray(center, np.float64)
        self.scene_radius = max(float(radius), 1e-6)

    def set_world_up(self, up: np.ndarray) -> None:
        """Orbit about this world axis (captures in Blender's convention are +Z up)."""
        self.set_navigator(self.navigator.with_up(up))
        self._queue("world_up", tuple(float(x) for x in self.navigator.up))

    def frame_scene(self) -> None:
        w, h = self.physical_size()
        self.set_navigator(self.navigator.frame(self.scene_center, self.scene_radius, w / h))

    def snap_to_camera(self, camera: Camera) -> None:
        """Look through a capture camera (its pose and vertical field of view)."""
        self.set_navigator(self.navigator.snap_to(camera, focus=self.scene_center))

    def set_channel(self, channel: str) -> None:
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; expected one of {CHANNELS}")
        self.channel = channel
        self.update()

    def set_wireframe(self, on: bool) -> None:
        self.wireframe = bool(on)
        self.update()

    def set_grid(self, on: bool) -> None:
        self.grid = bool(on)
        self.update()

    def set_mesh(self, mesh: Mesh | None) -> None:
        """Show a mesh; also makes its bounding sphere the scene bounds. A
        mesh with baked AO gets its specular visibility maps once baked."""
        self._mesh = mesh
        if mesh is not None:
            self.set_scene_bounds(*mesh.bounding_sphere())
        for part in ("visibility", "bounce"):
            self._scene.pop(part, None)
            self._pending.pop(part, None)
        self._bounce_of = None
        self._queue("mesh", mesh)  # the first paint with a mesh and no environment adds the preview light
        if mesh is not None and mesh.ao is not None:
            self.visibility_baker.request(mesh)

    def set_material(self, maps: MaterialMaps | None) -> None:
        self._queue("material", maps)
        self._bounce_timer.start()

    def set_environment(self, env: Environment | None) -> None:
        self._queue("environment", env)
        self._bounce_timer.start()

    def set_lights(self, lights: Sequence[PunctualLight]) -> None:
        self._queue("lights", lights)

    def set_display(self, display: DisplaySettings) -> None:
        self._queue("display", display)

    def grab_image(self, refined: bool = True) -> QImage:
        """The rendered frame as a QImage (device pixels); by default the
        final picture: full resolution rather than the interactive preview,
        with the current environment (waiting for its prefiltering)."""
        if refined:
            self.finish_refinement()
        return self.grabFramebuffer()

    def finish_refinement(self) -> None:
        """Make the next paint the final picture (see `grab_image`) without
        painting it: for a grab of the whole window, which paints it anyway."""
        self._refine.stop()
        self.render_scale = 1.0
        self._finish_environment()
        self._finish_visibility()
        self._finish_bounce()

    def pick_surface(self, x: float, y: float) -> SurfaceHit | None:
        """The shown mesh's surface under widget position (x, y): world
        point, triangle, barycentrics and texture coordinate (`uv`, None
        without UVs); None off the object. The ray goes through the centre
        of the pixel the mouse is on (a mouse at integer (x, y) covers
        [x, x+1) x [y, y+1)), as the rendered pixel does."""
        if self._mesh is None:
            return None
        dpr = self.devicePixelRatioF()
        origin, direction = pixel_ray(self.camera(), (x + 0.5) * dpr, (y + 0.5) * dpr)
        return pick_surface(self._mesh, origin, direction)

    def pick(self, x: float, y: float) -> np.ndarray | None:
        """World point of the mesh under widget position (x, y), or None."""
        hit = self.pick_surface(x, y)
        return None if hit is None else hit.point

    def pick_uv(self, x: float, y: float) -> np.ndarray | None:
        """Texture coordinate (u, v) of the mesh under widget position (x, y),
        or None (off the object, or a mesh without UVs)."""
        hit = self.pick_surface(x, y)
        return None if hit is None else hit.uv

    # ---- GL -----------------------------------------------------------------
    def initializeGL(self) -> None:
        try:
            from renderer.gl.scene_renderer import SceneRenderer  # here: a broken renderer shows, not crashes

            self._ctx = moderngl.create_context()
            self._presenter = _Presenter(self._ctx)
            self._renderer = SceneRenderer(self._ctx)
        except Exception as exc:  # no usable GL: keep the window alive, say why
            self.gl_error = f"OpenGL initialisation failed: {exc}"
            log.exception("viewport: OpenGL initialisation failed")
            self._renderer = None
            return
        self.gl_renderer = f"{self._ctx.info['GL_RENDERER']} (OpenGL {self._ctx.info['GL_VERSION']})"
        log.info("viewport: %s", self.gl_renderer)
        # A (re)created context gets every scene part again on its first paint.
        self._pending = dict(self._scene)
        self.context().aboutToBeDestroyed.connect(self._release_gl)

    def paintGL(self) -> None:
        if self._ctx is None or self._renderer is None:
            self._paint_error()
            return
        self._apply_pending()
        w, h = self.physical_size()
        screen = self._ctx.detect_framebuffer(self.defaultFramebufferObject())
        scale = self.render_scale
        lw, lh = (w, h) if scale >= 1.0 else (max(1, round(w * scale)), max(1, round(h * scale)))
        target = screen if (lw, lh) == (w, h) else self._presenter.target(lw, lh)
        target.use()
        target.viewport = (0, 0, lw, lh)
        try:
            self._renderer.render(
                self.navigator.camera(lw, lh), target, channel=self.channel,
                wireframe=self.wireframe, grid=self.grid, interactive=scale < 1.0,
            )
        except Exception as exc:  # a broken frame must not take the window down
            log.exception("viewport: render failed")
            self.gl_error = f"Rendering failed: {exc}"
            self._renderer = None
            self._paint_error()
            return
        if target is not screen:
            screen.use()
            screen.viewport = (0, 0, w, h)
            self._presenter.present(screen)
        self.last_render_size = (lw, lh)
        self.frames_rendered += 1

    def _paint_error(self) -> None:
        """Say why there is no picture, in the viewport itself."""
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(40, 30, 30))
        painter.setPen(QColor(230, 200, 200))
        painter.drawText(self.rect().adjusted(20, 20, -20, -20),
                         Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                         self.gl_error or "No OpenGL context")
        painter.end()

    def _release_gl(self) -> None:
        if self._ctx is None:
            return
        self.makeCurrent()
        for obj in (self._renderer, self._presenter):
            release = getattr(obj, "release", None)
            if callable(release):
                try:
                    release()
                except Exception:
                    log.debug("releasing %r failed", obj, exc_info=True)
        self._renderer = self._presenter = self._ctx = None
        self.doneCurrent()

    def _queue(self, name: str, value: Any) -> None:
        self._scene[name] = value
        self._pending[name] = value
        if name in _EDITED_PARTS and self._renderer is not None:
            self._start_interaction()
        self.update()

    def _add_preview_light(self) -> None:
        """A mesh about to be shown with no environment gets the preview light."""
        if self._pending.get("mesh") is not None and self._scene.get("environment") is None:
            self._scene["environment"] = self._pending["environment"] = preview_environment()

    def _apply_pending(self) -> None:
        self._add_preview_light()
        for name in _SCENE_PARTS:
            if name in self._pending:
                setter = getattr(self._renderer, f"set_{name}", None)
                value = self._pending.pop(name)
                if name == "environment":
                    self._apply_environment(value)
                elif callable(setter):
                    setter(value)

    def _apply_environment(self, env: Environment | None) -> None:
        """Hand `env` to the renderer once its prefiltered tables exist;
        until then ask the worker for them and keep the previous one."""
        renderer = self._renderer
        has = getattr(renderer, "has_environment", None)
        if env is None or not callable(has) or has(env.radiance):
            renderer.set_environment(env)
            return
        pre = self.prefilter.result(env.radiance)
        if pre is not None:
            renderer.set_environment(env, prefiltered=pre)
        else:
            self.prefilter.request(env.radiance, env.name)

    def _environment_ready(self, radiance: np.ndarray, _prefiltered: Any) -> None:
        env = self._scene.get("environment")
        if env is not None and env.radiance is radiance:
            self._pending["environment"] = env
            self.update()

    def _environment_failed(self, radiance: np.ndarray, problem: str) -> None:
        env = self._scene.get("environment")
        if env is not None and env.radiance is radiance:
            log.error("viewport: cannot prepare environment %s: %s", env.name, problem)

    def _finish_environment(self) -> None:
        """Wait for the prefiltering of the wanted environment, if any."""
        self._add_preview_light()
        env = self._scene.get("environment")
        if env is None or self._renderer is None:
            return
        has = getattr(self._renderer, "has_environment", None)
        if callable(has) and not has(env.radiance) and self.prefilter.wait(env.radiance) is not None:
            self._pending.setdefault("environment", env)

    def _visibility_ready(self, mesh: Mesh, maps: np.ndarray) -> None:
        if mesh is self._mesh and self._scene.get("visibility") is not maps:
            self._queue("visibility", maps)
            self._request_bounce()

    def _bounce_key(self) -> tuple[Mesh, MaterialMaps, Environment] | None:
        """What the bounce light would be worked out for now (None: no
        visibility maps shown, or no environment)."""
        env = self._scene.get("environment")
        if self._mesh is None or "visibility" not in self._scene or env is None:
            return None
        return (self._mesh, self._scene.get("material") or self._default_material, env)

    def _request_bounce(self) -> None:
        key = self._bounce_key()
        if key is not None and not _same_key(key, self._bounce_of):
            self.visibility_baker.request_bounce(*key)

    def _bounce_ready(self, key: tuple[Any, ...], bounce: Any) -> None:
        if _same_key(key, self._bounce_key()):
            self._bounce_of = key
            self._queue("bounce", bounce)

    def _finish_bounce(self) -> None:
        """Work out (and wait for) the bounce light of what is shown now, if due."""
        key = self._bounce_key()
        if key is None or _same_key(key, self._bounce_of):
            return
        self._bounce_timer.stop()
        self.visibility_baker.request_bounce(*key)
        bounce = self.visibility_baker.wait_bounce(key)
        self._bounce_ready(key, bounce)

    def _finish_visibility(self) -> None:
        """Wait for the bake of the shown mesh's visibility maps, if any."""
        mesh = self._mesh
        if mesh is not None and mesh.ao is not None and "visibility" not in self._scene:
            maps = self.visibility_baker.wait(mesh)
            if maps is not None:
                self._visibility_ready(mesh, maps)

    # ---- interaction --------------------------------------------------------
    def _start_interaction(self) -> None:
        self.render_scale = INTERACTIVE_SCALE
        self._refine.start()

    def _refine_now(self) -> None:
        if self._drag is None and not self._keys:
            self.render_scale = 1.0
            self.update()
        else:
            self._refine.start()

    def _move(self, navigator: OrbitNavigator) -> None:
        self.set_navigator(navigator, interactive=True)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        button, mods = event.button(), event.modifiers()
        if button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and mods & Qt.KeyboardModifier.ShiftModifier
        ):
            mode = "pan"
        elif button == Qt.MouseButton.LeftButton:
            mode = "orbit"
        elif button == Qt.MouseButton.RightButton:
            mode = "look"
        else:
            return super().mousePressEvent(event)
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        self._drag = (mode, event.position())
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag is None:
            return super().mouseMoveEvent(event)
        mode, last = self._drag
        pos = event.position()
        dx, dy = pos.x() - last.x(), pos.y() - last.y()
        self._drag = (mode, pos)
        if mode == "orbit":
            self._move(self.navigator.orbit(-dx * ORBIT_RAD_PER_PX, dy * ORBIT_RAD_PER_PX))
        elif mode == "pan":
            self._move(self.navigator.pan(dx, dy, self.height()))
        else:
            self._move(self.navigator.look(-dx * LOOK_RAD_PER_PX, dy * LOOK_RAD_PER_PX))
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag is not None:
            self._drag = None
            self._refine.start()
            event.accept()
        else:
            super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        hit = self.pick(event.position().x(), event.position().y())
        if hit is None:
            return super().mouseDoubleClickEvent(event)
        self._move(self.navigator.aim_at(hit))

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self._move(self.navigator.zoom(steps))
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = Qt.Key(event.key())
        if key in _FLY_KEYS and not event.modifiers() & ~Qt.KeyboardModifier.ShiftModifier:
            if not event.isAutoRepeat():
                self._keys.add(key)
                if not self._fly_timer.isActive():
                    self._fly_clock.start()
                    self._fly_timer.start()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        key = Qt.Key(event.key())
        if key in _FLY_KEYS:
            if not event.isAutoRepeat():
                self._keys.discard(key)
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:  # noqa: ANN001 - QFocusEvent
        self._keys.clear()
        super().focusOutEvent(event)

    def _fly_step(self) -> None:
        if not self._keys:
            self._fly_timer.stop()
            self._refine.start()
            return
        dt = min(self._fly_clock.restart() / 1000.0, 0.1)
        fast = 4.0 if self._shift_held() else 1.0
        speed = fast * max(self.scene_radius, 0.25 * self.navigator.distance)
        f = sum(_FLY_KEYS[k][0] for k in self._keys)
        r = sum(_FLY_KEYS[k][1] for k in self._keys)
        u = sum(_FLY_KEYS[k][2] for k in self._keys)
        self._move(self.navigator.fly(f * speed * dt, r * speed * dt, u * speed * dt))

    @staticmethod
    def _shift_held() -> bool:
        return bool(QGuiApplication.queryKeyboardModifiers() & Qt.KeyboardModifier.ShiftModifier)


@functools.cache
def preview_environment() -> Environment:
    """The light a mesh is shown in before any is chosen: the bundled studio
    HDRI, or even white light when it is missing."""
    try:
        return Environment(load_image(PREVIEW_HDRI, srgb=False), name=PREVIEW_HDRI.stem)
    except RelitError as exc:
        log.warning("preview light: %s; using even white light", exc)
        return Environment.uniform(1.0, name="uniform")


class _Presenter:
    """Owns the low-resolution target used while the camera moves and draws it
    upscaled (bilinear) into the widget's framebuffer."""

    def __init__(self, ctx: moderngl.Context):
        self.ctx = ctx
        self.prog = ctx.program(
            vertex_shader="""#version 330 core
                out vec2 uv;
                void main() {
                    vec2 p = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2);
                    uv = p;
                    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
                }""",
            fragment_shader="""#version 330 core
                uniform sampler2D image;
                in vec2 uv;
                out vec4 color;
                void main() { color = texture(image, uv); }""",
        )
        self.vao = ctx.vertex_array(self.prog, [])
        self._size: tuple[int, int] | None = None
        self._color: moderngl.Texture | None = None
        self._depth: moderngl.Renderbuffer | None = None
        self._fbo: moderngl.Framebuffer | None = None

    def target(self, width: int, height: int) -> moderngl.Framebuffer:
        if self._size != (width, height):
            self._release_target()
            self._color = self.ctx.texture((width, height), 4)
            self._color.filter = (moderngl.LINEAR, moderngl.LINEAR)
            self._depth = self.ctx.depth_renderbuffer((width, height))
            self._fbo = self.ctx.framebuffer([self._color], self._depth)
            self._size = (width, height)
        return self._fbo

    def present(self, screen: moderngl.Framebuffer) -> None:
        self.ctx.disable(moderngl.DEPTH_TEST | moderngl.BLEND | moderngl.CULL_FACE)
        self._color.use(0)
        self.vao.render(moderngl.TRIANGLES, vertices=3)

    def _release_target(self) -> None:
        for obj in (self._fbo, self._color, self._depth):
            if obj is not None:
                obj.release()
        self._fbo = self._color = self._depth = None
        self._size = None

    def release(self) -> None:
        self._release_target()
        self.vao.release()
        self.prog.release()
