"""The interactive stand-in for dense meshes: far fewer triangles, same shape,
texture seams kept, and the renderer draws it only while interacting."""

from __future__ import annotations

import numpy as np
import pytest

from models.lighting import Lighting
from models.scene import DisplaySettings, Scene
from renderer.gl.context import release_standalone_context
from renderer.gl.lod import cluster_decimate
from tests.renderer.test_gl_scenes import gl_context_or_skip, orbit_camera, procedural_sky, uv_sphere, varied_material


def test_decimated_sphere_keeps_its_shape_and_seam() -> None:
    sphere = uv_sphere(1.0, 200, 100)  # 40k triangles, seam at u = 0 / 1
    coarse = cluster_decimate(sphere, 5_000)
    assert 2_500 < len(coarse.faces) < 9_000
    assert np.abs(np.linalg.norm(coarse.vertices, axis=1) - 1.0).max() < 0.01
    assert np.allclose(np.linalg.norm(coarse.normals, axis=1), 1.0, atol=1e-5)
    assert np.all(np.sum(coarse.normals * coarse.vertices, axis=1) > 0.95)
    # No triangle bridges the seam (its UVs would smear the whole texture across it).
    uv = coarse.uv[coarse.faces]
    assert (uv[..., 0].max(1) - uv[..., 0].min(1)).max() < 0.1
    assert coarse.uv[:, 0].min() < 0.02 and coarse.uv[:, 0].max() > 0.98
    # Faces stay wound the same way (outward).
    tri = coarse.vertices[coarse.faces]
    geometric = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    assert np.mean(np.sum(geometric * tri.mean(1), axis=1) > 0) > 0.99


def test_small_meshes_are_left_alone() -> None:
    sphere = uv_sphere(1.0, 16, 8)
    assert cluster_decimate(sphere, 1_000) is sphere


@pytest.mark.gl
def test_interactive_frames_draw_the_stand_in() -> None:
    from renderer.gl.offscreen import OffscreenRenderer

    ctx = gl_context_or_skip()
    try:
        offscreen = OffscreenRenderer(64, 48, ctx=ctx)
        renderer = offscreen.renderer
        renderer.interactive_triangles = 2_000
        scene = Scene(uv_sphere(1.0, 100, 50), varied_material(16), Lighting(procedural_sky(16)), DisplaySettings())
        camera = orbit_camera(64, 48, distance=3.5)
        still = offscreen.render(scene, camera)
        assert renderer._proxy is None
        renderer.render(camera, offscreen.fbo, interactive=True)
        assert renderer._proxy is not None and len(renderer._proxy.mesh.faces) < 0.5 * len(scene.mesh.faces)
        moving = np.frombuffer(offscreen.fbo.read(components=4, dtype="f4"), np.float32).reshape(48, 64, 4)[::-1]
        assert np.abs(moving - still).mean() < 0.03
        offscreen.release()
    finally:
        release_standalone_context(ctx)
