"""The viewport shows exactly what an offscreen render of the same view shows,
and its pixels follow the HDRI's rotation and the exposure (issue 4)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from app.viewport import Viewport
from models.lighting import Environment, Lighting
from models.scene import DisplaySettings, Scene
from tests.app.panels_support import render_offscreen_in_worker, two_tone_maps, uv_sphere
from tests.app.test_viewport import to_array, viewport  # noqa: F401 - fixture


def striped_sky() -> Environment:
    """A sky whose colour changes with azimuth, so turning it changes the object."""
    h, w = 32, 64
    u = (np.arange(w) + 0.5) / w
    v = (np.arange(h) + 0.5) / h
    rgb = np.stack([0.3 + 0.7 * (u > 0.5), 0.3 + 0.5 * np.abs(np.sin(6 * u)), np.full(w, 0.6)], -1)
    radiance = (rgb[None] * (1.5 - v)[:, None, None]).astype(np.float32)
    return Environment(radiance, name="striped")


def test_viewport_matches_offscreen_render_and_follows_rotation_and_exposure(
    viewport: Viewport, artifacts: Path  # noqa: F811 - the fixture imported above
) -> None:
    vp = viewport
    mesh, maps, env, display = uv_sphere(), two_tone_maps(), striped_sky(), DisplaySettings()
    vp.set_grid(False)
    vp.set_mesh(mesh)
    vp.set_material(maps)
    vp.set_environment(env)
    vp.set_display(display)
    vp.frame_scene()
    shown = to_array(vp.grab_image()).astype(np.float32) / 255
    camera = vp.camera()
    assert (camera.width, camera.height) == shown.shape[1::-1]

    scene = Scene(mesh, maps, Lighting(env), display)
    reference = render_offscreen_in_worker(scene, camera, camera.width, camera.height)[..., :3]
    diff = np.abs(shown - reference).max(-1)
    vp.grab_image().save(str(artifacts / "viewport_vs_offscreen.png"))
    # 8-bit quantisation everywhere; multisampled edges in the widget only
    assert np.median(diff) < 2 / 255
    assert (diff > 8 / 255).mean() < 0.03, (diff > 8 / 255).mean()

    vp.set_environment(replace(env, rotation_deg=90.0))
    turned = to_array(vp.grab_image()).astype(np.float32) / 255
    assert (np.abs(turned - shown).max(-1) > 8 / 255).mean() > 0.2

    vp.set_environment(env)
    vp.set_display(replace(display, exposure_ev=1.0))
    brighter = to_array(vp.grab_image()).astype(np.float32) / 255
    assert brighter.mean() > shown.mean() + 0.05
    vp.set_display(display)
    again = to_array(vp.grab_image()).astype(np.float32) / 255
    np.testing.assert_allclose(again, shown, atol=1 / 255)
