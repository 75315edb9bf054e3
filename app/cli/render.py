"""Render a saved scene through the cameras of a transforms file (NeRF /
instant-ngp layout), optionally relit by another HDR environment: one RGBA
image per camera frame, named after the frame's file_path (its base name).

PNG output is display-encoded (exposure, the scene's view transform, sRGB);
EXR output is linear radiance (times 2^exposure). Alpha is the object's
coverage; the background is transparent unless --background says otherwise."""

from __future__ import annotations

import argparse
import json
import math
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
    render = _engine(args.engine, scene, args.device)
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
    def get(key: str):
        return frame.get(key, doc.get(key))

    matrix = frame.get("transform_matrix")
    try:
        c2w = np.asarray(matrix, np.float64)
    except (TypeError, ValueError):
        c2w = None
    if c2w is None or c2w.shape not in ((4, 4), (3, 4)) or not np.isfinite(c2w).all():
        raise RelitError(path, f"{where}.transform_matrix must be a 4x4 (or 3x4) matrix of numbers")
    if c2w.shape == (3, 4):
        c2w = np.vstack([c2w, [0, 0, 0, 1]])
    r = c2w[:3, :3]
    scale = np.cbrt(abs(np.linalg.det(r)))
    if not scale > 1e-9:
        raise RelitError(path, f"{where}.transform_matrix has a singular rotation")
    c2w[:3, :3] = r / scale
    w, h = get("w"), get("h")
    if w is None or h is None:
        if size is not None:
            w, h = size
        else:
            w, h = _size_from_image(path, frame.get("file_path"))
        if w is None:
            raise RelitError(path, f"{where}: no image size (w, h) in the cameras file; pass --size WxH")
    w, h = _positive_int(path, w, f"{where}.w"), _positive_int(path, h, f"{where}.h")
    fx, fy = get("fl_x"), get("fl_y")
    angle_x, angle_y = get("camera_angle_x"), get("camera_angle_y")
    if fx is None and angle_x is not None:
        fx = 0.5 * w / math.tan(0.5 * _number(path, angle_x, "camera_angle_x"))
    if fy is None and angle_y is not None:
        fy = 0.5 * h / math.tan(0.5 * _number(path, angle_y, "camera_angle_y"))
    if fx is None and fy is None:
        raise RelitError(path, f"{where}: no focal length (fl_x / camera_angle_x)")
    fx = _number(path, fx if fx is not None else fy, "fl_x")
    fy = _number(path, fy if fy is not None else fx, "fl_y")
    if fx <= 0 or fy <= 0:
        raise RelitError(path, f"{where}: focal length must be positive")
    cx = _number(path, get("cx"), "cx") if get("cx") is not None else w / 2
    cy = _number(path, get("cy"), "cy") if get("cy") is not None else h / 2
    return Camera(w, h, fx, fy, cx, cy, c2w)


def _size_from_image(path: Path, file_path) -> tuple[int | None, int | None]:
    if not isinstance(file_path, str):
        return None, None
    from models.capture_formats.common import IMAGE_EXTENSIONS
    from models.imageio import image_size

    base = (path.parent / file_path).resolve()
    for candidate in [base] + [base.with_name(base.name + ext) for ext in IMAGE_EXTENSIONS]:
        if candidate.is_file():
            try:
                return image_size(candidate)
            except RelitError:
                return None, None
    return None, None


def _number(path: Path, value, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RelitError(path, f"'{key}' must be a finite number, got {value!r:.40}")
    return float(value)


def _positive_int(path: Path, value, key: str) -> int:
    v = _number(path, value, key)
    if v < 1 or v != int(v):
        raise RelitError(path, f"'{key}' must be a positive whole number, got {value!r:.40}")
    return int(v)


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


def _engine(name: str, scene, device: str | None):
    """A function (camera, linear) -> RGBA (H,W,4) float32."""
    if name in ("auto", "gl"):
        gl = _gl_engine(scene, required=name == "gl")
        if gl is not None:
            return gl
    from models.render_scene import SceneRenderer

    renderer = SceneRenderer.create(scene, device)
    return lambda camera, linear: renderer.render(camera, linear=linear)


def _gl_engine(scene, required: bool):
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
            renderers[key] = OffscreenRenderer(*key)
        image = renderers[key].render(scene, camera, channel="shaded", linear=linear)
        return np.asarray(image, np.float32)

    try:  # fail over to torch when no GL context can be made here
        probe = OffscreenRenderer(8, 8)
        del probe
    except Exception as exc:
        if required:
            raise RelitError(None, f"cannot create an OpenGL context ({type(exc).__name__}: {exc}); use --engine torch") from None
        return None
    return render
