"""The GL renderer draws what the scene says, where the camera says.

Each test renders offscreen (standalone EGL context) and checks pixels:
silhouette against Camera.project, background modes, environment rotation and
exposure, live material updates without new programs, display transforms
against renderer.tonemap, shadows, the empty-scene grid and wireframe.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.spatial import Delaunay

from models.camera import Camera
from models.lighting import Environment, Lighting, PunctualLight, equirect_to_direction, rotation_y
from models.material import MaterialMaps
from models.mesh import Mesh
from models.scene import DisplaySettings, Scene
from renderer.envmap import sample_equirect
from renderer.gbuffer import pixel_directions
from renderer.gl.context import release_standalone_context
from renderer.tonemap import display, encode_srgb
from tests.renderer.test_gl_scenes import gl_context_or_skip, orbit_camera, procedural_sky, torus, uv_sphere, varied_material

pytestmark = pytest.mark.gl

W, H = 96, 72


@pytest.fixture(scope="module")
def ctx():
    context = gl_context_or_skip()
    yield context
    release_standalone_context(context)


@pytest.fixture(scope="module")
def offscreen(ctx):
    from renderer.gl.offscreen import OffscreenRenderer

    renderer = OffscreenRenderer(W, H, ctx=ctx)
    yield renderer
    renderer.release()


@pytest.fixture(scope="module")
def sky() -> Environment:
    return procedural_sky(32)


def sphere_scene(sky: Environment, **display: object) -> Scene:
    return Scene(
        uv_sphere(0.8, 48, 24),
        MaterialMaps.constant(8, (0.7, 0.5, 0.3), 0.4, 0.0),
        Lighting(sky),
        DisplaySettings(**display),  # type: ignore[arg-type]
    )


def test_sphere_covers_its_projected_silhouette(offscreen, sky) -> None:
    # Off-centre principal point and fx != fy: the intrinsics must be used exactly.
    c2w = Camera.look_at(np.array([0.4, 0.3, 3.0]), np.array([0.1, 0.0, 0.0]), np.array([0, 1.0, 0]), W, H, 1.0).c2w
    camera = Camera(W, H, fx=80.0, fy=95.0, cx=40.3, cy=39.1, c2w=c2w)
    scene = sphere_scene(sky, background="transparent")
    image = offscreen.render(scene, camera)
    covered = image[..., 3] > 0.5

    pixels, depth = camera.project(scene.mesh.vertices)
    assert np.all(depth > 0)
    hull = Delaunay(pixels)  # a sphere's silhouette is convex
    u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    expected = hull.find_simplex(np.stack([u, v], -1).reshape(-1, 2)).reshape(H, W) >= 0

    iou = (covered & expected).sum() / (covered | expected).sum()
    assert iou > 0.97, iou
    centroid = np.argwhere(covered).mean(0)
    assert np.allclose(centroid, np.argwhere(expected).mean(0), atol=0.3)
    # Row 0 is the top: the projected centre's row, not its mirror image.
    top = np.argwhere(covered)[:, 0].min()
    assert abs(top - pixels[:, 1].min()) < 1.5


def test_transparent_background_has_zero_alpha_outside(offscreen, sky) -> None:
    camera = orbit_camera(W, H, distance=4.0)
    image = offscreen.render(sphere_scene(sky, background="transparent"), camera)
    alpha = image[..., 3]
    assert set(np.unique(alpha)) == {0.0, 1.0}
    assert alpha[0, 0] == 0.0 and alpha[H // 2, W // 2] == 1.0
    assert np.all(image[alpha == 0, :3] == 0.0)


def test_supersampling_is_the_box_filtered_large_frame(ctx, sky) -> None:
    """An anti-aliased render equals the frame at s times the size, box-filtered
    with alpha weights: soft silhouettes, straight colour, same interior."""
    from renderer.gl.offscreen import OffscreenRenderer, box_filter_rgba

    camera = Camera.look_at(np.array([0.4, 0.3, 3.0]), np.zeros(3), np.array([0, 1.0, 0]), W, H, 0.8)
    scene = sphere_scene(sky, background="transparent")
    with OffscreenRenderer(W, H, ctx=ctx, supersample=3) as aa, OffscreenRenderer(3 * W, 3 * H, ctx=ctx) as big, \
            OffscreenRenderer(W, H, ctx=ctx) as plain:
        soft = aa.render(scene, camera)
        large = big.render(scene, camera.scaled(3))
        hard = plain.render(scene, camera)
    assert soft.shape == hard.shape == (H, W, 4)
    np.testing.assert_allclose(soft, box_filter_rgba(large, 3), atol=1e-5)
    assert set(np.unique(hard[..., 3])) <= {0.0, 1.0}
    edge = (soft[..., 3] > 0.05) & (soft[..., 3] < 0.95)
    assert edge.sum() > 20  # a sphere's rim is partly covered
    assert abs(soft[..., 3].sum() - hard[..., 3].sum()) < 0.02 * hard[..., 3].sum()
    rim = edge & (hard[..., 3] == 1)
    assert np.abs(soft[rim, :3] - hard[rim, :3]).mean() < 0.1  # straight colour: no fade to black
    inside = (soft[..., 3] == 1) & (hard[..., 3] == 1)
    assert np.abs(soft[inside, :3] - hard[inside, :3]).mean() < 0.01


def test_color_background_is_the_colour(offscreen, sky) -> None:
    camera = orbit_camera(W, H, distance=4.0)
    colour = (0.2, 0.4, 0.05)
    scene = sphere_scene(sky, background="color", background_color=colour, exposure_ev=2.0, view_transform="aces")
    linear = offscreen.render(scene, camera, linear=True)
    shown = offscreen.render(scene, camera)
    assert np.allclose(linear[0, 0], [*colour, 1.0], atol=1e-6)
    expected = encode_srgb(torch.tensor(colour)).numpy()
    assert np.allclose(shown[0, 0, :3], expected, atol=1e-4)  # shown as picked: no exposure or curve
    assert np.all(shown[..., 3] == 1.0)


def test_environment_background_is_the_rotated_map(offscreen, sky) -> None:
    camera = orbit_camera(W, H, distance=4.0)
    env = replace(sky, rotation_deg=65.0, exposure_ev=-0.5, strength=1.5)
    scene = replace(sphere_scene(sky, background="environment"), lighting=Lighting(env))
    image = offscreen.render(scene, camera, linear=True)
    outside = image[..., 3] == 1.0
    dirs = pixel_directions(camera).reshape(-1, 3)
    env_dirs = dirs @ torch.from_numpy(rotation_y(-env.rotation_deg)).T  # R_y(-rotation) d
    expected = sample_equirect(torch.from_numpy(env.radiance).double(), env_dirs).numpy() * env.scale
    covered = offscreen.render(replace(scene, display=DisplaySettings(background="transparent")), camera)[..., 3] > 0
    mask = (outside & ~covered).reshape(-1)
    err = np.abs(image.reshape(-1, 4)[mask, :3] - expected[mask])
    assert mask.sum() > 0.5 * W * H
    assert np.percentile(err, 99) < 1e-3 * expected.max()


def test_background_blur_smooths_the_environment(offscreen, sky) -> None:
    # Look towards the sky's bright blob (u = 0.3, v = 0.3), away from the object.
    eye = np.array([0.0, 0.0, 5.0])
    towards = equirect_to_direction(np.array([0.32, 0.35]))
    camera = Camera.look_at(eye, eye + towards, np.array([0, 1.0, 0]), W, H, 1.2)
    sharp = offscreen.render(sphere_scene(sky), camera, linear=True)
    blurred = offscreen.render(sphere_scene(sky, background_blur=0.8), camera, linear=True)
    empty = offscreen.render(sphere_scene(sky, background="transparent"), camera)[..., 3] == 0
    pairs = empty[1:] & empty[:-1]  # vertical neighbours, both background

    def steepest(image: np.ndarray) -> float:
        return float(np.abs(np.diff(image[..., :3], axis=0)).max(-1)[pairs].max())

    assert not np.allclose(sharp, blurred)
    assert steepest(blurred) < 0.5 * steepest(sharp)


def test_environment_exposure_scales_radiance_and_rotation_moves_it(offscreen, sky) -> None:
    camera = orbit_camera(W, H)
    scene = Scene(torus(), varied_material(32), Lighting(sky), DisplaySettings(background="transparent"))
    base = offscreen.render(scene, camera, linear=True)
    brighter = offscreen.render(replace(scene, lighting=Lighting(replace(sky, exposure_ev=1.0))), camera, linear=True)
    covered = base[..., 3] > 0
    assert np.allclose(brighter[covered, :3], 2.0 * base[covered, :3], rtol=1e-5, atol=1e-7)

    turned = offscreen.render(replace(scene, lighting=Lighting(replace(sky, rotation_deg=90.0))), camera, linear=True)
    assert np.abs(turned - base)[covered].max() > 0.05
    full_turn = offscreen.render(replace(scene, lighting=Lighting(replace(sky, rotation_deg=360.0))), camera, linear=True)
    assert np.allclose(full_turn, base, atol=1e-4)
    # Display exposure changes the displayed pixels but not linear output.
    shown = offscreen.render(replace(scene, display=replace(scene.display, exposure_ev=-1.0)), camera)
    assert np.abs(shown - offscreen.render(scene, camera))[covered].max() > 0.05


def test_rotation_and_exposure_reuse_the_prefiltered_environment(ctx, sky) -> None:
    from renderer.gl.scene_renderer import SceneRenderer

    renderer = SceneRenderer(ctx)
    try:
        renderer.set_environment(sky)
        tables = renderer._env_cache[id(sky.radiance)]
        renderer.set_environment(replace(sky, rotation_deg=30.0, exposure_ev=2.0))
        assert renderer._env_cache[id(sky.radiance)] is tables and len(renderer._env_cache) == 1
    finally:
        renderer.release()


def test_live_material_update_changes_pixels_without_new_programs(ctx, sky) -> None:
    from renderer.gl.scene_renderer import SceneRenderer

    renderer = SceneRenderer(ctx)
    color = ctx.texture((W, H), 4, dtype="f4")
    depth = ctx.depth_renderbuffer((W, H))
    fbo = ctx.framebuffer([color], depth)
    try:
        scene = sphere_scene(sky)
        camera = orbit_camera(W, H, distance=3.0)
        renderer.set_scene(scene)
        renderer.render(camera, fbo, channel="albedo", linear_output=True)
        before = np.frombuffer(fbo.read(components=4, dtype="f4"), np.float32).reshape(H, W, 4)
        def programs() -> dict[object, int]:
            p = renderer.programs
            variants = {**p.mesh_variants, **p.background_variants}
            return {**{v: prog.glo for v, prog in variants.items()}, "grid": p.grid.glo, "shadow": p.shadow.glo}

        before_programs = programs()
        albedo_glo = renderer._material.albedo.glo

        edited = replace(scene.material, albedo=np.full_like(scene.material.albedo, [0.1, 0.9, 0.2]))
        renderer.set_material(edited)
        renderer.render(camera, fbo, channel="albedo", linear_output=True)
        after = np.frombuffer(fbo.read(components=4, dtype="f4"), np.float32).reshape(H, W, 4)

        centre = after[H // 2, W // 2]
        assert np.allclose(before[H // 2, W // 2, :3], (0.7, 0.5, 0.3), atol=1e-6)
        assert np.allclose(centre[:3], (0.1, 0.9, 0.2), atol=1e-6)
        assert renderer._material.albedo.glo == albedo_glo  # written in place
        assert programs() == before_programs
    finally:
        renderer.release()
        fbo.release()
        color.release()
        depth.release()


@pytest.mark.parametrize("transform", ["standard", "aces", "agx"])
def test_display_transform_matches_torch(offscreen, sky, transform: str) -> None:
    camera = orbit_camera(W, H, distance=3.0)
    scene = sphere_scene(sky, exposure_ev=1.5, view_transform=transform)
    linear = offscreen.render(scene, camera, linear=True)
    shown = offscreen.render(scene, camera)
    expected = display(torch.from_numpy(linear[..., :3]).double(), 1.5, transform).numpy()  # type: ignore[arg-type]
    assert np.abs(shown[..., :3] - expected).max() < 2e-4


def test_debug_channels(offscreen, sky) -> None:
    camera = orbit_camera(W, H, distance=3.0)
    scene = replace(sphere_scene(sky, background="transparent"), material=MaterialMaps.constant(8, (0.2, 0.3, 0.4), 0.25, 0.75))
    covered = offscreen.render(scene, camera)[..., 3] > 0
    assert np.allclose(offscreen.render(scene, camera, "roughness", linear=True)[covered, :3], 0.25, atol=1e-6)
    assert np.allclose(offscreen.render(scene, camera, "metallic", linear=True)[covered, :3], 0.75, atol=1e-6)
    assert np.allclose(offscreen.render(scene, camera, "ao", linear=True)[covered, :3], 1.0)
    normals = offscreen.render(scene, camera, "normal", linear=True)[covered, :3]
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-4)
    # Visible normals face the camera.
    assert np.all(normals @ (camera.position / np.linalg.norm(camera.position)) > -0.05)
    with pytest.raises(ValueError, match="channel"):
        offscreen.render(scene, camera, "specular")


def _ground_and_ball() -> Mesh:
    ball = uv_sphere(0.5, 32, 16)
    ground_v = np.array([[-3, 0, -3], [3, 0, -3], [3, 0, 3], [-3, 0, 3]], np.float32)
    ground_f = np.array([[0, 2, 1], [0, 3, 2]], np.int32)
    vertices = np.concatenate([ball.vertices + np.float32([0, 1.0, 0]), ground_v])
    faces = np.concatenate([ball.faces, ground_f + len(ball.vertices)])
    normals = np.concatenate([ball.normals, np.tile(np.float32([0, 1, 0]), (4, 1))])
    uv = np.concatenate([ball.uv, np.zeros((4, 2), np.float32)])
    return Mesh(vertices, faces, normals, uv)


@pytest.mark.parametrize(
    "light",
    [
        PunctualLight("directional", intensity=3.0, direction=(0.0, -1.0, 0.0)),
        PunctualLight("point", intensity=30.0, position=(0.0, 3.0, 0.0)),
        PunctualLight("spot", intensity=30.0, position=(0.0, 3.0, 0.0), direction=(0, -1, 0), outer_cone=1.0),
    ],
    ids=lambda l: l.kind,
)
def test_lights_cast_shadows_on_the_ground(ctx, light: PunctualLight) -> None:
    from renderer.gl.scene_renderer import SceneRenderer

    renderer = SceneRenderer(ctx, shadow_map_size=256)
    color = ctx.texture((W, H), 4, dtype="f4")
    fbo = ctx.framebuffer([color], ctx.depth_renderbuffer((W, H)))
    try:
        renderer.set_mesh(_ground_and_ball())
        renderer.set_material(MaterialMaps.constant(4, (0.8, 0.8, 0.8), 0.9, 0.0))
        renderer.set_environment(None)
        renderer.set_lights([light])
        camera = Camera.look_at(np.array([0, 4.0, 4.0]), np.zeros(3), np.array([0, 1.0, 0]), W, H, math.radians(60))
        shadow_px, lit_px = camera.project(np.array([[0.0, 0.0, 0.0], [1.3, 0.0, 1.3]]))[0].astype(int)

        def radiance_at(px: np.ndarray) -> float:
            image = np.frombuffer(fbo.read(components=4, dtype="f4"), np.float32).reshape(H, W, 4)[::-1]
            return float(image[px[1], px[0], 0])

        renderer.render(camera, fbo, linear_output=True)
        shadowed, lit = radiance_at(shadow_px), radiance_at(lit_px)
        assert lit > 0.05 and shadowed < 0.1 * lit

        renderer.shadows = False
        renderer.render(camera, fbo, linear_output=True)
        assert radiance_at(shadow_px) > 0.5 * lit
    finally:
        renderer.release()
        fbo.release()
        color.release()


def _quad(center: np.ndarray, axis: int, half: float) -> tuple[np.ndarray, np.ndarray]:
    """A square of half-size `half` centred at `center`, perpendicular to
    `axis`, its front (counter-clockwise) side facing the origin."""
    a, b = [k for k in range(3) if k != axis]
    corners = []
    for sa, sb in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        p = np.array(center, np.float64)
        p[a] += sa * half
        p[b] += sb * half
        corners.append(p)
    faces = np.array([[0, 1, 2], [0, 2, 3]], np.int32)
    geometric = np.cross(corners[1] - corners[0], corners[2] - corners[0])
    if np.dot(geometric, center) > 0:  # front faces towards the origin
        faces = faces[:, ::-1]
    return np.array(corners, np.float32), faces


def test_point_light_shadows_in_every_cube_face(ctx) -> None:
    """A point light at the origin and, towards each of six walls, a small
    off-centre occluder: each wall is dark exactly where the occluder's shadow
    falls and lit at its mirror images (all six faces of the map, oriented)."""
    from renderer.gl.scene_renderer import SceneRenderer

    offset = np.array([0.35, -0.15])  # occluder offset along the wall's (a, b) axes
    parts = []
    for axis in range(3):
        a, b = np.roll(np.eye(3)[axis], 1), np.roll(np.eye(3)[axis], 2)
        for sign in (1.0, -1.0):
            unit = np.eye(3)[axis] * sign
            parts.append(_quad(2.0 * unit, axis, 1.5))  # wall
            parts.append(_quad(unit + offset[0] * a + offset[1] * b, axis, 0.1))  # occluder
    vertices, faces, count = [], [], 0
    for v, f in parts:
        vertices.append(v)
        faces.append(f + count)
        count += len(v)
    v = np.concatenate(vertices)
    normals = (-v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)  # towards the light
    mesh = Mesh(v, np.concatenate(faces), normals, np.zeros((len(v), 2), np.float32))

    renderer = SceneRenderer(ctx, shadow_map_size=256)
    color = ctx.texture((W, H), 4, dtype="f4")
    fbo = ctx.framebuffer([color], ctx.depth_renderbuffer((W, H)))
    try:
        renderer.set_mesh(mesh)
        renderer.set_material(MaterialMaps.constant(4, (0.8, 0.8, 0.8), 1.0, 0.0))
        renderer.set_environment(None)
        renderer.set_lights([PunctualLight("point", intensity=20.0, position=(0.0, 0.0, 0.0))])
        for axis in range(3):
            a, b = np.roll(np.eye(3)[axis], 1), np.roll(np.eye(3)[axis], 2)
            for sign in (1.0, -1.0):
                unit = np.eye(3)[axis] * sign
                camera = Camera.look_at(1.2 * (a + b) + 0.2 * unit, 2.0 * unit, a, W, H, 1.4)
                shadow = 2.0 * (unit + offset[0] * a + offset[1] * b)  # the occluder's image
                d_a, d_b = 2.0 * offset[0] * a, 2.0 * offset[1] * b
                mirrors = [shadow - 2 * d_a - 2 * d_b, shadow - 2 * d_a, shadow - 2 * d_b,
                           2.0 * unit + 2.0 * offset[1] * a + 2.0 * offset[0] * b]  # mirrored, swapped
                pixels = camera.project(np.array([shadow, *mirrors]))[0].astype(int)
                renderer.render(camera, fbo, linear_output=True)
                image = np.frombuffer(fbo.read(components=4, dtype="f4"), np.float32).reshape(H, W, 4)[::-1]
                values = [float(image[py, px, 0]) for px, py in pixels]
                assert min(values[1:]) > 0.1 and values[0] < 0.1 * min(values[1:]), (axis, sign, values)
    finally:
        renderer.release()
        fbo.release()
        color.release()


@pytest.mark.parametrize("up", [(0.0, 1.0, 0.0), (0.0, 0.0, 1.0)], ids=["y-up", "z-up"])
def test_empty_scene_draws_the_grid_across_world_up(ctx, sky, up: tuple[float, float, float]) -> None:
    from renderer.gl.scene_renderer import SceneRenderer

    renderer = SceneRenderer(ctx)
    color = ctx.texture((W, H), 4, dtype="f4")
    fbo = ctx.framebuffer([color], ctx.depth_renderbuffer((W, H)))
    try:
        u = np.array(up)
        side = np.array([1.0, 1.0, 1.0]) - u  # a horizontal direction for either up
        camera = Camera.look_at(3.0 * side + 1.0 * u, 0.8 * u, u, W, H, 1.0)
        renderer.set_world_up(up)
        renderer.set_display(DisplaySettings(background="transparent"))
        renderer.set_environment(sky)
        renderer.render(camera, fbo)  # no mesh: the empty scene
        alpha = np.frombuffer(fbo.read(components=4, dtype="f4"), np.float32).reshape(H, W, 4)[::-1, :, 3]
        assert alpha[: H // 4].max() == 0.0  # above the horizon: nothing
        below = alpha[H // 2 :]
        assert below.max() > 0.3 and (below == 0).mean() > 0.3  # lines, not a filled plane
    finally:
        renderer.release()
        fbo.release()
        color.release()


def test_wireframe_and_grid_overlay_the_object(offscreen, sky) -> None:
    camera = orbit_camera(W, H, distance=3.0)
    scene = sphere_scene(sky, background="color")
    plain = offscreen.render(scene, camera)
    wired = offscreen.render(scene, camera, wireframe=True)
    changed = np.abs(wired - plain).max(-1) > 0.1
    assert 0.05 < changed.mean() < 0.9
    assert wired[changed, :3].mean() < plain[changed, :3].mean()  # dark lines
    assert not np.allclose(offscreen.render(scene, camera, grid=True), plain)


@pytest.mark.parametrize("interactive", [False, True])
def test_renders_into_a_detected_framebuffer_of_any_size(ctx, sky, interactive: bool) -> None:
    """As the Qt viewport does: someone else's framebuffer, wrapped with
    ctx.detect_framebuffer(glo), any size; the viewport comes from it."""
    from renderer.gl.scene_renderer import SceneRenderer

    renderer = SceneRenderer(ctx, interactive_scale=0.5)
    size = (50, 30)
    color = ctx.renderbuffer(size, 4, dtype="f1")
    depth = ctx.depth_renderbuffer(size)
    owned = ctx.framebuffer([color], depth)
    try:
        owned.use()
        detected = ctx.detect_framebuffer(owned.glo)
        assert detected.viewport == (0, 0, *size)
        renderer.set_scene(sphere_scene(sky, background="transparent"))
        renderer.render(orbit_camera(*size, distance=3.0), detected, interactive=interactive)
        image = np.frombuffer(owned.read(components=4), np.uint8).reshape(size[1], size[0], 4)
        assert image[15, 25, 3] == 255 and image[0, 0, 3] == 0
        assert 0.2 < (image[..., 3] > 0).mean() < 0.8
    finally:
        renderer.release()
        owned.release()
        color.release()
        depth.release()


def test_interactive_frames_are_cheaper_approximations(ctx, sky) -> None:
    """Interactive frames: half resolution stretched over the viewport, stale
    shadow maps skipped (rendered on the next still frame), close to still."""
    from renderer.gl.scene_renderer import SceneRenderer

    renderer = SceneRenderer(ctx, shadow_map_size=128, interactive_scale=0.5)
    color = ctx.texture((W, H), 4, dtype="f4")
    fbo = ctx.framebuffer([color], ctx.depth_renderbuffer((W, H)))

    def frame(**kw: object) -> np.ndarray:
        renderer.render(camera, fbo, linear_output=True, **kw)  # type: ignore[arg-type]
        return np.frombuffer(fbo.read(components=4, dtype="f4"), np.float32).reshape(H, W, 4)

    try:
        renderer.set_mesh(_ground_and_ball())
        renderer.set_environment(sky)
        renderer.set_lights([PunctualLight("directional", intensity=3.0, direction=(0.0, -1.0, 0.0))])
        camera = orbit_camera(W, H, distance=5.0)
        moving = frame(interactive=True)
        assert renderer._shadows_dirty  # not rendered while interacting
        assert renderer._reduced is not None and renderer._reduced[1].size == (W // 2, H // 2)
        still = frame()
        assert not renderer._shadows_dirty
        moving_shadowed = frame(interactive=True)
        assert np.abs(moving_shadowed - still).mean() < 0.1 * np.abs(still).mean()
        assert np.abs(moving - still).mean() > np.abs(moving_shadowed - still).mean()  # shadows now in
    finally:
        renderer.release()
        fbo.release()
        color.release()


def test_gl_state_is_left_usable(offscreen, sky) -> None:
    """The viewport shares its context with Qt: no wireframe or depth-mask leaks."""
    offscreen.render(sphere_scene(sky), orbit_camera(W, H), wireframe=True, grid=True)
    assert offscreen.ctx.wireframe is False
    assert offscreen.fbo.depth_mask is True
