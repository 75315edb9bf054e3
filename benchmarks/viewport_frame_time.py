"""Viewport frame time: `python -m benchmarks.viewport_frame_time`.

Renders procedural scenes with the ModernGL SceneRenderer into an RGBA8
framebuffer (what the Qt viewport draws into) at 1280x720 and 960x540, still
frames (full resolution, 2x2 PCF shadows) and interactive frames (what the
viewport draws while the user drags: half resolution stretched, a clustered
stand-in for dense meshes, one-tap shadows), orbiting the camera every frame,
and prints a Markdown table. glFinish after every frame, so the wall time is
what a user waits for. On software GL (Mesa llvmpipe) the CPU does all of it,
so the table also gives CPU time per frame (all threads): on a busy machine
wall time grows with the load while CPU time does not.

Scenes
- sample: a torus (2.3k triangles) with varied material maps, a procedural
  sky and one shadowed point light — the size of a typical fitted capture
  mesh after decimation;
- sample+visibility: the same torus with baked AO, so still frames read its
  specular visibility maps too (renderer/visibility.py, three bilinear
  lookups per lobe sample; needs Embree, else the row is left out);
- sphere-500k: a UV sphere of 500k triangles, same material, sky and light.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from dataclasses import dataclass

import moderngl
import numpy as np

from models.camera import Camera
from models.lighting import Environment, Lighting, PunctualLight
from models.material import MaterialMaps
from models.mesh import Mesh
from models.scene import DisplaySettings, Scene
from renderer.gl.context import create_standalone_context, release_standalone_context, renderer_string
from renderer.ao import with_baked_ao
from renderer.gl.scene_renderer import SceneRenderer
from renderer.raycast import HAVE_EMBREE

RESOLUTIONS = ((1280, 720), (960, 540))


def uv_sphere(nu: int, nv: int) -> Mesh:
    """A unit UV sphere of 2 nu nv triangles with analytic normals and UVs."""
    u = np.linspace(0.0, 1.0, nu + 1, dtype=np.float32)
    v = np.linspace(0.0, 1.0, nv + 1, dtype=np.float32)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    phi, theta = 2 * np.pi * uu, np.pi * (1.0 - vv)
    n = np.stack([np.sin(theta) * np.sin(phi), np.cos(theta), np.sin(theta) * np.cos(phi)], -1).reshape(-1, 3)
    idx = np.arange((nu + 1) * (nv + 1)).reshape(nu + 1, nv + 1)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)]).astype(np.int32)
    uv = np.stack([uu.ravel(), vv.ravel()], -1).astype(np.float32)
    return Mesh(n.astype(np.float32), faces, n.astype(np.float32), uv)


def torus(nu: int = 48, nv: int = 24) -> Mesh:
    u = np.linspace(0.0, 1.0, nu + 1)
    v = np.linspace(0.0, 1.0, nv + 1)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    phi, theta = 2 * np.pi * uu, 2 * np.pi * vv
    ring = np.stack([np.sin(phi), np.zeros_like(phi), np.cos(phi)], -1)
    normal = np.cos(theta)[..., None] * ring + np.sin(theta)[..., None] * np.array([0.0, 1.0, 0.0])
    position = ring + 0.4 * normal
    idx = np.arange((nu + 1) * (nv + 1)).reshape(nu + 1, nv + 1)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    faces = np.concatenate([np.stack([a, c, b], 1), np.stack([a, d, c], 1)]).astype(np.int32)
    uv = np.stack([uu.ravel(), vv.ravel()], -1).astype(np.float32)
    return Mesh(position.reshape(-1, 3).astype(np.float32), faces, normal.reshape(-1, 3).astype(np.float32), uv)


def material(resolution: int = 512) -> MaterialMaps:
    y, x = np.mgrid[0:resolution, 0:resolution] / (resolution - 1)
    albedo = np.stack([0.5 + 0.4 * np.sin(6 * x), 0.5 + 0.4 * np.cos(5 * y), 0.3 + 0.25 * np.sin(4 * (x + y))], -1)
    roughness = 0.05 + 0.9 * (0.5 + 0.5 * np.sin(3 * np.pi * x) * np.cos(2 * np.pi * y))
    metallic = np.clip(1.6 * (0.5 + 0.5 * np.sin(2 * np.pi * (x - y))) - 0.3, 0.0, 1.0)
    return MaterialMaps(albedo.astype(np.float32), roughness.astype(np.float32), metallic.astype(np.float32))


def sky(height: int = 256) -> Environment:
    v = (np.arange(height) + 0.5) / height
    u = (np.arange(2 * height) + 0.5) / (2 * height)
    uu, vv = np.meshgrid(u, v)
    up = np.cos(np.pi * vv)
    radiance = np.where(up[..., None] > 0, [0.4, 0.6, 1.0] * (0.3 + up[..., None]), [0.15, 0.12, 0.1])
    radiance = radiance + np.exp(-(((uu - 0.3) / 0.03) ** 2 + ((vv - 0.3) / 0.03) ** 2))[..., None] * 20.0
    return Environment(radiance.astype(np.float32), name="procedural sky")


def scenes() -> dict[str, Scene]:
    lighting = Lighting(sky(), (PunctualLight("point", intensity=15.0, position=(1.5, 2.5, 1.0)),))
    maps = material()
    shown = DisplaySettings(view_transform="agx")
    out = {"sample": Scene(torus(), maps, lighting, shown)}
    if HAVE_EMBREE:
        out["sample+visibility"] = Scene(with_baked_ao(torus()), maps, lighting, shown)
    out["sphere-500k"] = Scene(uv_sphere(500, 500), maps, lighting, shown)
    return out


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass(frozen=True)
class Timing:
    scene: str
    triangles: int
    width: int
    height: int
    mode: str
    ms: float
    cpu_ms: float

    @property
    def fps(self) -> float:
        return 1000.0 / self.ms


def time_frames(
    ctx: moderngl.Context, renderer: SceneRenderer, width: int, height: int, interactive: bool, frames: int
) -> tuple[float, float]:
    """Median wall ms and mean CPU ms per frame over `frames` orbiting frames
    (after two warm-ups)."""
    fbo = ctx.simple_framebuffer((width, height), components=4)
    times = []
    try:
        for k in range(frames + 2):
            if k == 2:
                cpu_start = time.process_time()
            az = math.radians(10.0 * k)
            eye = 3.2 * np.array([math.sin(az) * math.cos(0.5), math.sin(0.5), math.cos(az) * math.cos(0.5)])
            camera = Camera.look_at(eye, np.zeros(3), np.array([0, 1.0, 0]), width, height, math.radians(45))
            start = time.perf_counter()
            renderer.render(camera, fbo, interactive=interactive)
            ctx.finish()
            times.append(time.perf_counter() - start)
        cpu = (time.process_time() - cpu_start) / frames
    finally:
        fbo.release()
    return 1000.0 * float(np.median(times[2:])), 1000.0 * cpu


def run(frames: int = 15) -> tuple[list[Timing], str]:
    ctx = create_standalone_context()
    renderer = SceneRenderer(ctx, interactive_scale=0.5)  # as app/viewport.py's preview
    results = []
    for name, scene in scenes().items():
        renderer.set_scene(scene)
        for width, height in RESOLUTIONS:
            for mode in ("still", "interactive"):
                ms, cpu_ms = time_frames(ctx, renderer, width, height, mode == "interactive", frames)
                results.append(Timing(name, len(scene.mesh.faces), width, height, mode, ms, cpu_ms))
    gl = renderer_string(ctx)
    renderer.release()
    release_standalone_context(ctx)
    return results, gl


def markdown(results: list[Timing], gl: str) -> str:
    machine = f"{cpu_name()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"
    try:
        load = ", load average %.1f %.1f %.1f" % os.getloadavg()
    except OSError:
        load = ""
    lines = [
        f"Machine: {machine}{load}  ",
        f"GL: {gl}",
        "",
        "| scene | triangles | resolution | frame | ms/frame (wall) | fps | CPU ms/frame |",
        "|---|---:|---|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.scene} | {r.triangles:,} | {r.width}x{r.height} | {r.mode} | {r.ms:.1f} | {r.fps:.1f} | {r.cpu_ms:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=15, help="timed frames per row (median reported)")
    args = parser.parse_args()
    results, gl = run(args.frames)
    print(markdown(results, gl))


if __name__ == "__main__":
    main()
