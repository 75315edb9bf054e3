"""Render a saved scene through the cameras of a transforms file (NeRF /
instant-ngp layout), optionally relit by another HDR environment: one RGBA
image per camera frame, named after the frame's file_path (its base name).

PNG output is display-encoded (exposure, the scene's view transform, sRGB);
EXR output is linear radiance (times 2^exposure). Alpha is the object's
coverage; the background is transparent unless --background says otherwise."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from models.camera import Camera
from models.errors import RelitError

HELP = "render a scene through the cameras of a transforms.json"
HDRI_SUFFIXES = (".hdr", ".exr")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scene", help="scene folder (scene.json, scene.glb, environment.hdr)")
    parser.add_argument("--cameras", required=True, metavar="TRANSFORMS.json",
                        help="cameras: NeRF/instant-ngp transforms file (frames with transform_matrix, file_path)")
    parser.add_argument("--hdri", default=None, metavar="FILE", help="light with this .hdr/.exr instead of the scene's")
    parser.add_argument("--rotation", type=float, default=None, metavar="DEG", help="environment rotation about +Y")
    parser.add_argument("--exposure", type=float, default=None, metavar="EV", help="display exposure in stops")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the images")
    parser.add_argument("--format", choices=("png", "exr"), default="png", help="png (display, sRGB) or exr (linear)")
    parser.add_argument("--engine", choices=("auto", "torch", "gl"), default="auto",
                        help="gl: the OpenGL renderer; torch: the reference renderer (auto: gl when available)")
    parser.add_argument("--background", choices=("transparent", "environment", "color"), default="transparent",
                        help="what fills pixels the object does not cover")
    parser.add_argument("--size", default=None, metavar="WxH", help="image size when the cameras file gives none")
    parser.add_argument("--supersample", type=int, default=2, choices=(1, 2, 3, 4), metavar="N",
                        help="anti-aliasing: each pixel averages N x N sub-pixels (1: off; default 2)")
    parser.add_argument("--device", default=None, help="torch device for --engine torch")


def run(args: argparse.Namespace) -> int:
    from models.scene_io import load_scene

    size = _parse_size(args.size)
    cameras = read_cameras(args.cameras, size)
    scene = load_scene(args.scene)
    scene = relit_scene(scene, args.hdri, args.rotation, args.exposure, args.background)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RelitError(out, f"cannot create folder ({exc.strerror or exc})") from exc
    render = _engine(args.engine, scene, args.device, args.supersample)
    linear = args.format == "exr"
    from models.imageio import save_exr, save_png

    for name, camera in cameras:
        image = render(camera, linear)
        path = out / f"{name}.{args.format}"
        if linear:
            save_exr(path, image)
        else:
            save_png(path, image)
    print(f"relit render: wrote {len(cameras)} image(s) to {out}", file=sys.stderr)
    return 0


def relit_scene(scene, hdri: str | None, rotation: float | None, exposure: float | None, background: str):
    """The scene with the requested environment, rotation, exposure and background."""
    env = scene.lighting.environment
    if hdri is not None:
        from models.imageio import load_image

        path = Path(hdri)
        if path.suffix.lower() not in HDRI_SUFFIXES:
            raise RelitError(path, f"not an HDR environment (use {' or '.join(HDRI_SUFFIXES)})")
        if not path.is_file():
            raise RelitError(path, "HDRI file not found")
        radiance = load_image(path)
        if radiance.ndim != 3 or radiance.shape[2] < 3:
            raise RelitError(path, "HDRI must have RGB channels")
        if radiance.shape[1] != 2 * radiance.shape[0]:
            raise RelitError(path, f"HDRI must be equirectangular (2:1), got {radiance.shape[1]}x{radiance.shape[0]}")
        env = replace(env, radiance=np.ascontiguousarray(radiance[..., :3], np.float32), name=path.stem,
                      exposure_ev=0.0, strength=1.0)
    if rotation is not None:
        env = replace(env, rotation_deg=float(rotation))
    display = scene.display
    if exposure is not None:
        display = replace(display, exposure_ev=float(exposure))
    display = replace(display, background=background)
    return replace(scene, lighting=replace(scene.lighting, environment=env), display=display)


def read_cameras(path: str | Path, size: tuple[int, int] | None = None) -> list[tuple[str, Camera]]:
    """(output name, pinhole Camera) per frame of a NeRF / instant-ngp
    transforms file. Intrinsics: fl_x/fl_y or camera_angle_x/_y, cx/cy, w/h
    (top level or per frame); the image size otherwise comes from `size` or
    from the frame's image file when it exists. Raises RelitError."""
    path = Path(path)
    if not path.is_file():
        raise RelitError(path, "cameras file not found")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise RelitError(path, "cameras file is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise RelitError(path, f"cameras file is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("frames"), list):
        raise RelitError(path, "cameras file has no 'frames' list (expected NeRF / instant-ngp transforms)")
    if not doc["frames"]:
        raise RelitError(path, "cameras file has an empty 'frames' list")
    # The same world as the capture loader's: the file's up (its "up", else
    # the layout's +Z) turned onto Relit's +Y, so cameras meet fitted scenes.
    from models.capture import up_to_y
    from models.capture_formats.nerf import world_up

    try:
        world = up_to_y(world_up(doc, path))
    except RelitError as exc:
        raise RelitError(path, exc.problem) from None
    out: list[tuple[str, Camera]] = []
    used: set[str] = set()
    for k, frame in enumerate(doc["frames"]):
        where = f"frames[{k}]"
        if not isinstance(frame, dict):
            raise RelitError(path, f"{where} is not an object")
        camera = _frame_camera(path, doc, frame, where, size)
        camera = replace(camera, c2w=world @ camera.c2w)
        file_path = frame.get("file_path", f"frame_{k:04d}")
        if not isinstance(file_path, str) or not file_path.strip():
            raise RelitError(path, f"{where}.file_path must be a non-empty string")
        name = Path(file_path.replace("\\", "/")).name
        stem = name.rsplit(".", 1)[0] if "." in name[1:] else name
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem) or f"frame_{k:04d}"
        if stem in used:
            stem = f"{stem}_{k:04d}"
        used.add(stem)
        out.append((stem, camera))
    return out


def _frame_camera(path: Path, doc: dict, frame: dict, where: str, size: tuple[int, int] | None) -> Camera:
    """The frame's pinhole camera, read by the capture loader's own rules
    (models.capture_formats.nerf); only the image size may come from
    `size` or the frame's image when the file gives no w, h."""
    from models.capture_formats.common import check_c2w
    from models.capture_formats.nerf import frame_camera

    c2w = check_c2w(frame.get("transform_matrix"), path, where)
    given = [frame.get(k, doc.get(k)) for k in ("w", "h")]
    if None in given:
        if size is None:
            size = _size_from_image(path, frame.get("file_path"))
        if None in size:
            raise RelitError(path, f"{where}: no image size (w, h) in the cameras file; pass --size WxH")
    else:
        size = tuple(given)
    return frame_camera(doc, frame, path, where, size, c2w).without_distortion()


def _size_from_image(path: Path, file_path) -> tuple[int | None, int | None]:
    """The size of the frame's image beside the cameras file (found and
    confined to that folder as the capture loader does), or (None, None)."""
    from models.capture_formats.common import find_image
    from models.imageio import image_size

    try:
        return image_size(find_image(path.parent, file_path, path))
    except RelitError:
        return None, None


def _parse_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        w, h = (int(t) for t in text.lower().split("x"))
        if w < 1 or h < 1:
            raise ValueError
    except ValueError:
        raise RelitError(None, f"--size must look like 256x256, got {text!r}") from None
    return w, h


def _engine(name: str, scene, device: str | None, supersample: int = 1):
    """A function (camera, linear) -> RGBA (H,W,4) float32."""
    if name in ("auto", "gl"):
        gl = _gl_engine(scene, required=name == "gl", supersample=supersample)
        if gl is not None:
            return gl
    from models.render_scene import SceneRenderer

    renderer = SceneRenderer.create(scene, device)
    return lambda camera, linear: renderer.render(camera, linear=linear, supersample=supersample)


def _gl_engine(scene, required: bool, supersample: int = 1):
    try:
        from renderer.gl.offscreen import OffscreenRenderer
    except ImportError as exc:
        if required:
            raise RelitError(None, f"the OpenGL renderer is not available ({exc}); use --engine torch") from None
        return None
    renderers: dict[tuple[int, int], object] = {}

    def render(camera: Camera, linear: bool) -> np.ndarray:
        key = (camera.width, camera.height)
        if key not in renderers:
            renderers[key] = OffscreenRenderer(*key, supersample=supersample)
        image = renderers[key].render(scene, camera, channel="shaded", linear=linear)
        return np.asarray(image, np.float32)

    try:  # fail over to torch when no GL context can be made here
        OffscreenRenderer(8, 8).release()
    except Exception as exc:
        if required:
            raise RelitError(None, f"cannot create an OpenGL context ({type(exc).__name__}: {exc}); use --engine torch") from None
        return None
    return render
