"""GLSL and torch agree: the same scene and camera rendered by the torch path
(rasterize -> sample_texture -> shade) and by the GL renderer (linear output)
reach PSNR >= 40 dB on every channel, where both cover the object.

PSNR peaks: 1 for the [0,1] channels (albedo, roughness, metallic, ao) and
for normals (components in [-1,1], so peak 1 is the stricter choice); for
"shaded" radiance the reference's maximum over the compared pixels. Shaded is
also compared as displayed (GL's exposure -> AgX against
renderer.tonemap.display of the torch radiance), peak 1: what a user sees.

The torus has baked AO, so both paths read its specular visibility maps
(renderer/visibility.py; its inner ring mirrors itself) and the light it
sends itself (renderer/interreflection.py, one bounce); one case renders it
without them (AO's guess), as where Embree is missing. Interactive frames
(the viewport's while the user drags: one environment lookup, the maps'
open share over 8 lobe directions) are held to torch with lobe_samples 0.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from models.lighting import Environment, Lighting, PunctualLight
from models.render_scene import scene_bounce
from models.scene import DisplaySettings, Scene
from renderer.gl.context import release_standalone_context
from renderer.gl.scene_renderer import INTERACTIVE_LOBE_SAMPLES
from renderer.raster import rasterize
from renderer.shade import EnvironmentTextures, MaterialSample, SurfaceSample, shade
from renderer.texture import sample_texture
from renderer.tonemap import display
from renderer.visibility import SpecularVisibility, visibility_tensors
from tests.renderer.test_gl_scenes import (
    downsample_equirect,
    gl_context_or_skip,
    orbit_camera,
    procedural_sky,
    torus,
    varied_material,
)

pytestmark = pytest.mark.gl

CHANNELS = ("shaded", "albedo", "roughness", "metallic", "normal", "ao")
MIN_PSNR_DB = 40.0
WIDTH, HEIGHT = 160, 120
LIGHTS = (
    PunctualLight("point", intensity=20.0, position=(1.5, 2.5, 1.0)),
    PunctualLight(
        "spot", color=(1.0, 0.8, 0.6), intensity=40.0, position=(-2.0, 2.0, 2.0),
        direction=(1.0, -1.0, -1.0), inner_cone=0.2, outer_cone=0.5,
    ),
    PunctualLight("directional", intensity=2.0, direction=(0.3, -1.0, -0.2)),
)


def psnr(test: np.ndarray, reference: np.ndarray, peak: float) -> float:
    mse = float(np.mean((test.astype(np.float64) - reference) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak**2 / mse)


@pytest.fixture(scope="module")
def offscreen():
    from renderer.gl.offscreen import OffscreenRenderer

    ctx = gl_context_or_skip()
    renderer = OffscreenRenderer(WIDTH, HEIGHT, ctx=ctx)
    renderer.renderer.shadows = False  # torch shade() without visibility is unshadowed
    yield renderer
    renderer.release()
    release_standalone_context(ctx)


@pytest.fixture(scope="module")
def geometry():
    """The torus seen by one camera, rasterized once by the torch path."""
    mesh, maps = torus(), varied_material()
    camera = orbit_camera(WIDTH, HEIGHT)
    gbuffer = rasterize(mesh, camera)
    pixels = gbuffer.covered_indices()
    samples = gbuffer.gather(pixels)
    tensors = visibility_tensors(mesh, "cpu")
    if tensors is None:
        pytest.skip("no Embree: specular visibility maps cannot be baked")
    visibility = SpecularVisibility.at(*tensors, samples.triangle, samples.barycentric)
    surface = SurfaceSample(samples.position, samples.normal, samples.view_dir, samples.ao, visibility)
    material = MaterialSample(
        sample_texture(torch.from_numpy(maps.albedo), samples.uv),
        sample_texture(torch.from_numpy(maps.roughness[..., None]), samples.uv),
        sample_texture(torch.from_numpy(maps.metallic[..., None]), samples.uv),
    )
    return mesh, maps, camera, pixels.numpy(), surface, material


def environments(shared: Path | None) -> list[tuple[str, Environment, tuple[PunctualLight, ...], bool, bool, float]]:
    """(name, environment, lights, whether specular visibility maps are read,
    whether the frame is interactive, a gain on the bounce light: the
    torus's own is subtle (41.6 dB from none), so two cases make it 20x
    to hold the GLSL's reading of it to torch's)."""
    sky = procedural_sky()
    cases = [
        ("procedural", sky, (), True, False, 1.0),
        ("procedural+lights", replace(sky, rotation_deg=-70.0), LIGHTS, True, False, 1.0),
        ("procedural, AO's guess", sky, (), False, False, 1.0),
        ("procedural, interactive", sky, (), True, True, 1.0),
        ("procedural, interactive, AO's guess", sky, (), False, True, 1.0),
        ("procedural, bounce x20", sky, (), True, False, 20.0),
        ("procedural, interactive, bounce x20", sky, (), True, True, 20.0),
    ]
    if shared is not None:
        from models.imageio import load_image

        for name in ("studio_small_03_1k", "forest_slope_1k"):
            radiance = downsample_equirect(load_image(shared / "hdri" / f"{name}.hdr"))
            cases.append((name, Environment(radiance, rotation_deg=40.0, exposure_ev=-1.0, name=name), (), True, False, 1.0))
    return cases


def _compare(
    offscreen, geometry, env: Environment, lights, maps_read: bool, interactive: bool, bounce_gain: float
) -> dict[str, float]:
    mesh, maps, camera, pixels, surface, material = geometry
    offscreen.renderer.specular_visibility = maps_read
    shown = DisplaySettings(exposure_ev=0.5, view_transform="agx", background="transparent")
    scene = Scene(mesh, maps, Lighting(env, lights), shown)
    if maps_read:  # the torus's inner ring also gets its own light (one bounce)
        offscreen.renderer.set_scene(scene)
        bounce = tuple(b * bounce_gain for b in scene_bounce(scene))
        offscreen.renderer.set_bounce(bounce)  # set_scene keeps it while mesh, material and environment stay
        surface = replace(surface, visibility=surface.visibility.with_bounce(tuple(torch.as_tensor(b) for b in bounce)))
    else:
        surface = replace(surface, visibility=None)
    tables = EnvironmentTextures.from_environment(env)
    if interactive:
        tables = replace(tables, lobe_samples=INTERACTIVE_LOBE_SAMPLES)
    reference = shade(surface, material, tables, lights)
    if bounce_gain > 1.0:  # the bounce is then well above the tolerance: a GL that drops it fails
        unlit = shade(replace(surface, visibility=surface.visibility.with_bounce(None)), material, tables)["shaded"]
        ref = reference["shaded"].numpy().astype(np.float64)
        assert psnr(unlit.numpy(), ref, float(np.abs(ref).max())) < MIN_PSNR_DB - 10.0
    scores: dict[str, float] = {}
    for channel in CHANNELS:
        image = offscreen.render(scene, camera, channel, linear=True, interactive=interactive).reshape(-1, 4)[pixels]
        ref = reference[channel].numpy().astype(np.float64)
        ref = np.broadcast_to(ref, (len(ref), 3))
        both = image[:, 3] > 0.5  # GL covers it too
        assert both.mean() > 0.995, f"GL misses {100 * (1 - both.mean()):.2f}% of the torch coverage"
        peak = float(np.abs(ref[both]).max()) if channel == "shaded" else 1.0
        scores[channel] = psnr(image[both, :3], ref[both], peak)
    # The display path too: GLSL exposure + AgX against renderer.tonemap.display.
    image = offscreen.render(scene, camera, "shaded", linear=False, interactive=interactive).reshape(-1, 4)[pixels]
    ref = display(reference["shaded"].double(), shown.exposure_ev, shown.view_transform).numpy()
    both = image[:, 3] > 0.5
    scores["shaded (display)"] = psnr(image[both, :3], ref[both], 1.0)
    return scores


def test_gl_matches_torch_on_every_channel(offscreen, geometry, request: pytest.FixtureRequest) -> None:
    try:
        shared = request.getfixturevalue("shared_data")
    except pytest.skip.Exception:
        shared = None
    failures = []
    report = []
    for name, env, lights, maps_read, interactive, bounce_gain in environments(shared):
        scores = _compare(offscreen, geometry, env, lights, maps_read, interactive, bounce_gain)
        report.append(f"{name}: " + ", ".join(f"{k} {v:.1f}" for k, v in scores.items()))
        failures += [f"{name}/{k}: {v:.1f} dB" for k, v in scores.items() if v < MIN_PSNR_DB]
    print("\nPSNR (dB)\n" + "\n".join(report))
    assert not failures, f"below {MIN_PSNR_DB} dB: {failures}"
    if shared is None:
        pytest.skip("parity checked on the procedural sky only: shared HDRIs absent")
