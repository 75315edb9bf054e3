"""The viewport widget on a real GL context (Xvfb + Mesa): it draws, and
mouse, wheel and keys move the camera through models/navigation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QWheelEvent
from PySide6.QtWidgets import QApplication

from app.viewport import INTERACTIVE_SCALE, Viewport
from models.camera import Camera
from models.material import MaterialMaps
from models.mesh import Mesh


def to_array(image: QImage) -> np.ndarray:
    """QImage -> (H,W,3) uint8 RGB."""
    img = image.convertToFormat(QImage.Format.Format_RGBA8888)
    w, h, stride = img.width(), img.height(), img.bytesPerLine()
    data = np.frombuffer(img.constBits(), np.uint8, count=img.sizeInBytes()).reshape(h, stride)
    return data[:, : w * 4].reshape(h, w, 4)[..., :3].copy()


def changed_fraction(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.abs(a.astype(int) - b.astype(int)).max(-1) > 8).mean())


def open_viewport(qtbot, width: int = 320, height: int = 240) -> Viewport:
    """A shown viewport that has painted its first frame."""
    vp = Viewport()
    qtbot.addWidget(vp)
    vp.resize(width, height)
    vp.show()
    qtbot.waitExposed(vp)
    qtbot.waitUntil(lambda: vp.frames_rendered > 0, timeout=5000)
    return vp


@pytest.fixture
def viewport(qtbot) -> Viewport:
    return open_viewport(qtbot)


def wheel(widget, steps: int) -> None:
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(pos, widget.mapToGlobal(pos), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_paints_grid_at_device_resolution(viewport: Viewport, artifacts: Path) -> None:
    assert viewport.gl_error is None
    image = viewport.grab_image()
    image.save(str(artifacts / "viewport_grid.png"))
    w, h = viewport.physical_size()
    assert (image.width(), image.height()) == (w, h)
    rgb = to_array(image)
    assert rgb.mean() > 10, "viewport is black"
    assert rgb.std() > 3, "viewport is flat: no grid drawn"
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 5


def test_drag_orbits_renders_coarse_then_refines(viewport: Viewport, qtbot) -> None:
    before = to_array(viewport.grab_image())
    nav0 = viewport.navigator
    centre = viewport.rect().center()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=centre)
    for k in range(1, 6):
        qtbot.mouseMove(viewport, centre + QPoint(12 * k, 4 * k))
    assert viewport.render_scale == INTERACTIVE_SCALE
    preview = viewport.grab_image(refined=False)  # renders now, as the user sees it mid-drag
    w, h = viewport.physical_size()
    assert (preview.width(), preview.height()) == (w, h)  # shown upscaled to the widget
    assert viewport.last_render_size == (round(w * INTERACTIVE_SCALE), round(h * INTERACTIVE_SCALE))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=centre + QPoint(60, 20))
    assert viewport.navigator.distance == pytest.approx(nav0.distance)
    assert viewport.navigator.yaw != nav0.yaw and viewport.navigator.pitch != nav0.pitch
    qtbot.waitUntil(lambda: viewport.last_render_size == (w, h), timeout=3000)
    after = to_array(viewport.grab_image())
    assert changed_fraction(before, after) > 0.01


def test_pan_with_middle_button_and_shift_drag(viewport: Viewport, qtbot) -> None:
    target0 = np.asarray(viewport.navigator.target)
    centre = viewport.rect().center()
    qtbot.mousePress(viewport, Qt.MouseButton.MiddleButton, pos=centre)
    qtbot.mouseMove(viewport, centre + QPoint(30, 0))
    qtbot.mouseRelease(viewport, Qt.MouseButton.MiddleButton, pos=centre + QPoint(30, 0))
    target1 = np.asarray(viewport.navigator.target)
    assert np.linalg.norm(target1 - target0) > 0
    shift = Qt.KeyboardModifier.ShiftModifier
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, shift, centre)
    qtbot.mouseMove(viewport, centre + QPoint(0, 30))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, shift, centre + QPoint(0, 30))
    assert np.linalg.norm(np.asarray(viewport.navigator.target) - target1) > 0


def test_wheel_zooms(viewport: Viewport) -> None:
    before = to_array(viewport.grab_image())
    d0 = viewport.navigator.distance
    wheel(viewport, 3)
    assert viewport.navigator.distance < d0
    after = to_array(viewport.grab_image())
    assert changed_fraction(before, after) > 0.01


def test_wasd_flies_and_right_drag_looks(viewport: Viewport, qtbot) -> None:
    eye0 = viewport.navigator.eye
    viewport.setFocus()
    qtbot.keyPress(viewport, Qt.Key.Key_W)
    qtbot.wait(120)
    qtbot.keyRelease(viewport, Qt.Key.Key_W)
    moved = viewport.navigator.eye - eye0
    assert np.dot(moved, viewport.navigator.rotation[:, 2]) < 0  # forward is -z
    eye1 = viewport.navigator.eye
    centre = viewport.rect().center()
    qtbot.mousePress(viewport, Qt.MouseButton.RightButton, pos=centre)
    qtbot.mouseMove(viewport, centre + QPoint(40, 0))
    qtbot.mouseRelease(viewport, Qt.MouseButton.RightButton, pos=centre + QPoint(40, 0))
    np.testing.assert_allclose(viewport.navigator.eye, eye1, atol=1e-9)


def test_frame_and_snap(viewport: Viewport) -> None:
    viewport.set_scene_bounds(np.array([0.0, 1.0, 0.0]), 2.0)
    viewport.frame_scene()
    np.testing.assert_allclose(viewport.navigator.target, [0, 1, 0])
    cam = Camera.look_at(np.array([3.0, 2.0, 4.0]), np.zeros(3), np.array([0, 1, 0]), 320, 240, 0.9)
    viewport.snap_to_camera(cam)
    np.testing.assert_allclose(viewport.camera().c2w, cam.c2w, atol=1e-9)
    assert viewport.camera().fov_y == pytest.approx(cam.fov_y)


def sphere_mesh() -> Mesh:
    import trimesh

    ico = trimesh.creation.icosphere(subdivisions=2, radius=0.8)
    return Mesh.from_arrays(ico.vertices, ico.faces)


def test_mesh_channels_wireframe_and_grid(viewport: Viewport, artifacts: Path) -> None:
    viewport.set_mesh(sphere_mesh())
    viewport.set_material(MaterialMaps.constant(8, albedo=(0.8, 0.3, 0.1), roughness=0.3))
    viewport.frame_scene()
    assert viewport.scene_radius == pytest.approx(0.8, rel=1e-3)
    images = {}
    for channel in ("shaded", "albedo", "normal"):
        viewport.set_channel(channel)
        images[channel] = to_array(viewport.grab_image())
        viewport.grab_image().save(str(artifacts / f"viewport_sphere_{channel}.png"))
    assert changed_fraction(images["shaded"], images["normal"]) > 0.1
    assert changed_fraction(images["albedo"], images["normal"]) > 0.1
    centre = images["albedo"][images["albedo"].shape[0] // 2, images["albedo"].shape[1] // 2]
    assert centre[0] > centre[1] > centre[2]  # the orange albedo, not lit or tone-mapped away
    with pytest.raises(ValueError):
        viewport.set_channel("bogus")
    viewport.set_channel("shaded")
    viewport.set_wireframe(True)
    wire = to_array(viewport.grab_image())
    viewport.set_wireframe(False)
    assert changed_fraction(images["shaded"], wire) > 0.01
    viewport.set_grid(False)
    no_grid = to_array(viewport.grab_image())
    assert changed_fraction(images["shaded"], no_grid) > 0.01


def test_edits_render_coarse_then_refine(viewport: Viewport, qtbot) -> None:
    """A run of edits (an exposure slider, a fit's previews) draws interactive
    frames, then one full still frame once the edits pause."""
    from models.scene import DisplaySettings

    viewport.set_mesh(sphere_mesh())
    viewport.frame_scene()
    dark = to_array(viewport.grab_image())
    w, h = viewport.physical_size()
    for ev in (0.5, 1.0, 1.5, 2.0):
        viewport.set_display(DisplaySettings(exposure_ev=ev))
    assert viewport.render_scale == INTERACTIVE_SCALE
    viewport.grab_image(refined=False)
    assert viewport.last_render_size == (round(w * INTERACTIVE_SCALE), round(h * INTERACTIVE_SCALE))
    qtbot.waitUntil(lambda: viewport.last_render_size == (w, h), timeout=3000)
    bright = to_array(viewport.grab_image())
    assert bright.mean() > dark.mean() + 5  # the edit is shown


def test_double_click_recentres_orbit_on_the_object(viewport: Viewport, qtbot) -> None:
    viewport.set_mesh(sphere_mesh())
    viewport.frame_scene()
    pos = viewport.rect().center() + QPoint(20, 10)
    hit = viewport.pick(pos.x(), pos.y())
    assert hit is not None and np.linalg.norm(hit) == pytest.approx(0.8, abs=0.05)
    eye = viewport.navigator.eye
    qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=pos)
    np.testing.assert_allclose(viewport.navigator.target, hit, atol=1e-9)
    np.testing.assert_allclose(viewport.navigator.eye, eye, atol=1e-9)
    assert viewport.pick(2, 2) is None


def test_a_new_environment_is_prefiltered_off_the_gui_thread(viewport: Viewport, qtbot, monkeypatch) -> None:
    import time

    import app.environment_prefilter as prefilter_module
    from models.lighting import Environment

    real = prefilter_module.prefilter
    monkeypatch.setattr(prefilter_module, "prefilter", lambda radiance: (time.sleep(1.0), real(radiance))[1])
    viewport.set_mesh(sphere_mesh())
    viewport.set_material(MaterialMaps.constant(8, albedo=(0.8, 0.8, 0.8), roughness=0.4))
    dim_light = Environment.uniform(0.2, height=8, name="dim")
    viewport.set_environment(dim_light)
    dim = to_array(viewport.grab_image())  # waits for this environment's tables
    viewport.set_environment(dim_light)  # an edit: drawn as an interactive frame
    dim_coarse = to_array(viewport.grab_image(refined=False))
    rows = np.linspace(4.0, 0.1, 32, dtype=np.float32)[:, None, None]
    bright = Environment(np.broadcast_to(rows * np.array([1.0, 0.6, 0.3], np.float32), (32, 64, 3)).copy(), name="warm")
    messages = []
    viewport.environmentProgress.connect(messages.append)
    started = time.monotonic()
    viewport.set_environment(bright)
    old_light = to_array(viewport.grabFramebuffer())  # paints at once with the previous light: no prefiltering here
    assert time.monotonic() - started < 0.5
    assert viewport.prefilter.pending(bright.radiance) and messages == ["Preparing lighting: warm…"]
    assert np.abs(old_light.astype(int) - dim_coarse).max() <= 1  # still the old light
    with qtbot.waitSignal(viewport.prefilter.ready, timeout=10000):
        pass
    assert messages[-1] == ""
    frames = viewport.frames_rendered
    qtbot.waitUntil(lambda: viewport.frames_rendered > frames, timeout=5000)
    warm = to_array(viewport.grabFramebuffer())
    assert changed_fraction(dim, warm) > 0.05
    centre = warm[warm.shape[0] // 2, warm.shape[1] // 2].astype(int)
    assert centre[0] > centre[2] + 20  # lit by the warm environment now
    # Turning it is a uniform: instant, no new prefiltering.
    from dataclasses import replace

    viewport.set_environment(replace(bright, rotation_deg=90.0))
    viewport.repaint()
    assert not viewport.prefilter.pending(bright.radiance)


def test_prefiltered_tables_from_a_worker_render_the_same(qtbot) -> None:
    """SceneRenderer.set_environment(env, prefiltered=...) (what the viewport
    does) draws exactly what prefiltering inside set_environment draws."""
    import threading
    from dataclasses import replace

    from app.environment_prefilter import prefilter
    from models.lighting import Lighting
    from models.scene import Scene
    from renderer.gl.offscreen import OffscreenRenderer
    from tests.app.panels_support import sky_environment, two_tone_maps, uv_sphere

    env = sky_environment(16)
    scene = Scene(uv_sphere(), two_tone_maps(), Lighting(env))
    camera = Camera.look_at(np.array([0.0, 0.5, 3.0]), np.zeros(3), np.array([0.0, 1.0, 0.0]), 64, 48, 0.9)
    out = {}

    def work() -> None:  # standalone contexts stay off the GUI thread
        with OffscreenRenderer(64, 48) as r:
            out["inside"] = r.render(scene, camera)
            r.renderer.release()
            r.renderer = type(r.renderer)(r.ctx)
            r.renderer.set_environment(env, prefiltered=prefilter(env.radiance))
            assert r.renderer.has_environment(env.radiance)
            out["given"] = r.render(replace(scene, lighting=Lighting(env)), camera)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(60)
    np.testing.assert_array_equal(out["inside"], out["given"])


def test_pick_returns_the_surface_uv(viewport: Viewport) -> None:
    from models.material_edits import pick_surface
    from models.navigation import pixel_ray
    from tests.app.panels_support import uv_sphere

    mesh = uv_sphere()
    viewport.set_mesh(mesh)
    viewport.frame_scene()
    x, y = viewport.width() / 2 + 20, viewport.height() / 2 - 25
    hit = viewport.pick_surface(x, y)
    assert hit is not None and hit.face >= 0 and hit.barycentric.sum() == pytest.approx(1.0)
    dpr = viewport.devicePixelRatioF()
    expected = pick_surface(mesh, *pixel_ray(viewport.camera(), (x + 0.5) * dpr, (y + 0.5) * dpr))
    np.testing.assert_allclose(viewport.pick_uv(x, y), expected.uv)
    np.testing.assert_allclose(hit.uv, hit.barycentric @ mesh.uv[mesh.faces[hit.face]])
    # On this sphere u is the longitude and v the latitude of the point hit.
    p = hit.point / np.linalg.norm(hit.point)
    assert hit.uv[1] == pytest.approx(1.0 - np.arccos(p[1]) / np.pi, abs=0.01)
    assert hit.uv[0] == pytest.approx((np.arctan2(p[0], p[2]) / (2 * np.pi)) % 1.0, abs=0.01)
    np.testing.assert_allclose(viewport.pick(x, y), hit.point)
    assert viewport.pick_uv(2, 2) is None


@pytest.mark.parametrize("pitch_deg", [25.0, 6.0])
def test_grid_is_hidden_behind_the_object(viewport: Viewport, pitch_deg: float, artifacts: Path) -> None:
    import math
    from dataclasses import replace

    from scipy import ndimage

    from tests.app.panels_support import uv_sphere

    viewport.resize(320, 240)
    viewport.set_mesh(uv_sphere())
    viewport.frame_scene()
    viewport.set_navigator(replace(viewport.navigator, pitch=math.radians(pitch_deg)))
    viewport.set_grid(True)
    with_grid = to_array(viewport.grab_image())
    viewport.grab_image().save(str(artifacts / f"viewport_grid_behind_object_{pitch_deg:.0f}.png"))
    viewport.set_grid(False)
    without = to_array(viewport.grab_image())
    viewport.set_channel("normal")
    normal = to_array(viewport.grab_image())
    viewport.set_channel("shaded")
    viewport.set_grid(True)
    # The object: where the normal view (drawn without the grid) is not the plain background; its
    # anti-aliased rim, where the grid may show through, is left out.
    obj = ndimage.binary_erosion(np.abs(normal.astype(int) - normal[0, 0]).max(-1) > 6, iterations=2)
    assert 0.05 < obj.mean() < 0.8
    grid_px = np.abs(with_grid.astype(int) - without).max(-1) > 2
    assert grid_px[~obj].mean() > 0.01, "the grid shows around the object"
    assert not grid_px[obj].any(), "the grid must not draw over the object"


def test_paints_after_a_standalone_context_on_the_same_thread(qtbot) -> None:
    """Exports and tests make EGL contexts; once released the usual way, a
    viewport opened later on the same thread must still paint (while an EGL
    context stays current there, Mesa refuses Qt's GLX context)."""
    from renderer.gl.context import (
        create_standalone_context,
        release_standalone_context,
    )

    ctx = create_standalone_context()
    fbo = ctx.simple_framebuffer((8, 8))
    fbo.use()
    fbo.clear(1.0, 0.5, 0.0, 1.0)
    assert fbo.read(components=3)[:3] == bytes([255, 128, 0])
    fbo.release()
    release_standalone_context(ctx)
    vp = open_viewport(qtbot, 160, 120)
    assert vp.gl_error is None
    assert to_array(vp.grab_image()).mean() > 10


def test_closing_stops_a_running_visibility_bake(qtbot) -> None:
    """The window's shutdown stops a bake under way (a large mesh's takes
    minutes, and Python waits for its worker before the program exits):
    the bake returns nothing and `ready` never comes."""
    import trimesh

    from app.visibility_baker import VisibilityBaker
    from renderer.raycast import HAVE_EMBREE

    if not HAVE_EMBREE:
        pytest.skip("no Embree: specular visibility maps are not baked")
    sphere = trimesh.creation.icosphere(4)  # 5120 faces: seconds of tracing
    mesh = Mesh.from_arrays(sphere.vertices * 1.375, sphere.faces)  # geometry no other test bakes
    baker = VisibilityBaker()
    ready = []
    baker.ready.connect(lambda *args: ready.append(args))
    baker.request(mesh)
    future = baker._jobs["maps"][1]
    qtbot.waitUntil(future.running, timeout=10000)
    baker.shutdown()
    assert future.result(timeout=120) is None, "the bake ran to its end"
    qtbot.wait(50)
    assert ready == []


def test_a_bake_for_another_mesh_stops_the_running_one(qtbot) -> None:
    """Opening another scene while a large mesh's visibility bake runs
    (minutes) stops that bake: the new mesh's maps come at once, not after
    it, and the old mesh's never come."""
    import trimesh

    from app.visibility_baker import VisibilityBaker
    from renderer.raycast import HAVE_EMBREE

    if not HAVE_EMBREE:
        pytest.skip("no Embree: specular visibility maps are not baked")
    big = trimesh.creation.icosphere(4)  # 5120 faces: seconds of tracing
    old = Mesh.from_arrays(big.vertices * 1.625, big.faces)  # geometry no other test bakes
    small = trimesh.creation.icosphere(1)
    new = Mesh.from_arrays(small.vertices * 0.875, small.faces)
    baker = VisibilityBaker()
    ready = []
    baker.ready.connect(lambda mesh, maps: ready.append(mesh))
    baker.request(old)
    first = baker._jobs["maps"][1]
    qtbot.waitUntil(first.running, timeout=10000)
    baker.request(new)
    assert first.result(timeout=120) is None, "the superseded bake ran to its end"
    qtbot.waitUntil(lambda: ready != [], timeout=60000)
    assert ready == [new]
    baker.shutdown()


def test_specular_visibility_is_baked_off_the_gui_thread_and_then_shown(
    viewport: Viewport, qtbot, monkeypatch, artifacts: Path
) -> None:
    """A mesh with baked AO gets its visibility maps from a worker: the GUI
    paints at once with AO's guess, and once the maps arrive the torus's
    glossy inner ring, which mirrors the torus itself, darkens; once the
    light the torus sends itself arrives too, it shows the torus there
    (test-artifacts/viewport_torus_visibility.png)."""
    import time

    import app.visibility_baker as baker_module
    from renderer.raycast import HAVE_EMBREE
    from tests.renderer.test_gl_scenes import procedural_sky, torus

    if not HAVE_EMBREE:
        pytest.skip("no Embree: specular visibility maps are not baked")
    real, real_light = baker_module.bake, baker_module.light
    monkeypatch.setattr(baker_module, "bake", lambda mesh, cancel=None: (time.sleep(1.0), real(mesh, cancel))[1])
    monkeypatch.setattr(baker_module, "light", lambda key, cancel=None: (time.sleep(1.0), real_light(key, cancel))[1])
    mesh = torus()
    viewport.set_material(MaterialMaps.constant(8, albedo=(0.9, 0.9, 0.9), roughness=0.15, metallic=1.0))
    viewport.set_environment(procedural_sky())
    viewport.grab_image()  # the environment's tables, before the timed paint
    started = time.monotonic()
    viewport.set_mesh(mesh)
    viewport.frame_scene()
    viewport.repaint()
    assert time.monotonic() - started < 0.9, "the GUI thread waited for the bake"
    guess = to_array(viewport.grabFramebuffer())  # a still frame, AO's guess
    with qtbot.waitSignal(viewport.visibility_baker.ready, timeout=20000):
        pass
    viewport.repaint()
    maps = to_array(viewport.grabFramebuffer())  # the maps, before the bounce light arrives
    assert changed_fraction(guess, maps) > 0.02
    change = maps.astype(int).sum(-1) - guess.astype(int).sum(-1)
    # Much darker where the ring mirrors itself; where AO's guess dimmed open
    # sky (the torus's AO is painted on, darker on top), a little brighter.
    assert (change < -120).mean() > 0.003 and not (change > 120).any()
    # Then the light the torus sends itself (one bounce): the mirrored ring
    # shows the metal torus again, not black.
    with qtbot.waitSignal(viewport.visibility_baker.bounce_ready, timeout=20000):
        pass
    lit = to_array(viewport.grab_image())
    viewport.grab_image().save(str(artifacts / "viewport_torus_visibility.png"))
    back = lit.astype(int).sum(-1) - maps.astype(int).sum(-1)
    assert (back > 60).mean() > 0.003 and (back < -60).mean() < 0.0005
