"""Exports (Qt-free): relit renders of a view, of every capture view or of a
turntable, as PNG (sRGB, alpha) and/or EXR (linear); MP4 of a turntable when
a video writer is installed; the relightable asset (scene.glb +
environment.hdr + scene.json).

`run_export` does the whole job on the calling thread (the GUI calls it on a
worker), reporting `progress(done, total, message)` and stopping between
frames when `cancel` is set. Rendering goes through renderer.gl's
OffscreenRenderer (one per image size, made lazily on this thread); when no
OpenGL context can be made it falls back to the torch reference renderer.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from models.camera import Camera
from models.errors import RelitError
from models.imageio import save_exr, save_png
from models.scene import Scene

log = logging.getLogger(__name__)

ExportKind = Literal["view", "captures", "turntable", "asset"]
Progress = Callable[[int, int, str], None]
RenderFn = Callable[[Scene, Camera, bool], np.ndarray]
"""(scene, camera, linear) -> RGBA (H,W,4) float32 at the camera's size."""


class ExportError(RelitError):
    """An export could not be written."""


class ExportCancelled(Exception):
    """Raised inside run_export when `cancel` is set; caught by run_export."""


@dataclass(frozen=True)
class ExportRequest:
    """What to export and where.

    kind: "view" (`cameras[0]`, at width x height), "captures" (every camera
    in `cameras`, each at its own size times `scale`), "turntable" (`frames`
    views orbiting `center` about `up`, starting at `cameras[0]`, at width x
    height), "asset" (the scene folder files).
    """

    kind: ExportKind
    folder: Path
    cameras: tuple[Camera, ...] = ()
    names: tuple[str, ...] = ()
    width: int = 1920
    height: int = 1080
    scale: float = 1.0
    png: bool = True
    exr: bool = False
    transparent: bool = True
    frames: int = 36
    video: bool = False
    fps: int = 24
    center: tuple[float, float, float] = (0.0, 0.0, 0.0)
    up: tuple[float, float, float] = (0.0, 1.0, 0.0)
    basename: str = "render"
    supersample: int = 2
    """Anti-aliasing: each pixel is the mean of supersample^2 sub-pixels (1: off)."""
    extra: dict = field(default_factory=dict)

    def validate(self) -> ExportRequest:
        problems = []
        if self.kind not in ("view", "captures", "turntable", "asset"):
            problems.append(f"unknown export kind {self.kind!r}")
        if self.kind != "asset":
            if not (self.png or self.exr or (self.kind == "turntable" and self.video)):
                problems.append("choose at least one format (PNG, EXR or MP4)")
            if not self.cameras:
                problems.append("no camera to render from")
            if self.kind in ("view", "turntable") and not (1 <= self.width <= 16384 and 1 <= self.height <= 16384):
                problems.append(f"resolution {self.width}x{self.height} is out of range")
            if self.kind == "turntable" and self.frames < 1:
                problems.append("a turntable needs at least one frame")
            if self.kind == "captures" and not 0.01 <= self.scale <= 8:
                problems.append("capture scale must be within 0.01..8")
            if not 1 <= self.supersample <= 4:
                problems.append(f"anti-aliasing of {self.supersample}x{self.supersample} samples is out of range (1..4)")
        if problems:
            raise ExportError(self.folder, "; ".join(problems))
        return self


# ---------------------------------------------------------------- cameras


def camera_at_resolution(camera: Camera, width: int, height: int) -> Camera:
    """The same pose and vertical field of view at width x height, square
    pixels, principal point centred, no distortion."""
    fy = 0.5 * height / math.tan(0.5 * camera.fov_y)
    return Camera(int(width), int(height), fy, fy, width / 2.0, height / 2.0, np.array(camera.c2w, np.float64))


def turntable_cameras(camera: Camera, center: Sequence[float], up: Sequence[float], frames: int) -> list[Camera]:
    """`frames` cameras turning a full circle about the axis through `center`
    along `up`, starting at `camera` (counter-clockwise seen from above)."""
    c = np.asarray(center, np.float64)
    axis = np.asarray(up, np.float64)
    axis = axis / max(np.linalg.norm(axis), 1e-12)
    out = []
    for k in range(int(frames)):
        a = 2.0 * math.pi * k / frames
        rot = _axis_angle(axis, a)
        m = np.eye(4)
        m[:3, :3] = rot
        m[:3, 3] = c - rot @ c
        out.append(replace(camera, c2w=m @ np.asarray(camera.c2w, np.float64)))
    return out


def _axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    x, y, z = axis
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]], np.float64)
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


# ---------------------------------------------------------------- video


def video_writer() -> tuple[str | None, str]:
    """(writer name, '') when MP4 can be written ('imageio-ffmpeg' or
    'opencv'), else (None, why not)."""
    if importlib.util.find_spec("imageio_ffmpeg") is not None and importlib.util.find_spec("imageio") is not None:
        return "imageio-ffmpeg", ""
    if importlib.util.find_spec("cv2") is not None:
        return "opencv", ""
    return None, "MP4 needs a video writer: install imageio-ffmpeg (pip install imageio-ffmpeg) or opencv-python"


def write_video(path: Path, frames: Sequence[np.ndarray], fps: int) -> None:
    """Write RGB uint8 frames (H,W,3) as an H.264/MP4V video."""
    name, why = video_writer()
    if name is None:
        raise ExportError(path, why)
    if name == "imageio-ffmpeg":
        import imageio.v2 as imageio

        with imageio.get_writer(str(path), fps=fps, codec="libx264", quality=8, macro_block_size=1) as w:
            for f in frames:
                w.append_data(f)
        return
    import cv2

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
    try:
        for f in frames:
            writer.write(np.ascontiguousarray(f[:, :, ::-1]))
    finally:
        writer.release()


# ---------------------------------------------------------------- rendering


class Renderers:
    """Offscreen renderers per image size, made on the thread that uses them;
    torch when OpenGL is unavailable (`engine` says which ran)."""

    def __init__(self, engine: Literal["auto", "gl", "torch"] = "auto", supersample: int = 1):
        self.engine = engine
        self.supersample = supersample
        self._gl: dict[tuple[int, int], object] = {}
        self._ctx = None
        self._torch = None
        self._torch_scene: Scene | None = None

    def __call__(self, scene: Scene, camera: Camera, linear: bool) -> np.ndarray:
        if self.engine in ("auto", "gl"):
            try:
                return self._render_gl(scene, camera, linear)
            except Exception as exc:
                if self.engine == "gl":
                    raise ExportError(None, f"OpenGL rendering failed ({exc})") from exc
                log.warning("export: OpenGL unavailable (%s); using the torch renderer", exc)
                self.engine = "torch"
        return self._render_torch(scene, camera, linear)

    def _render_gl(self, scene: Scene, camera: Camera, linear: bool) -> np.ndarray:
        from renderer.gl.context import create_standalone_context
        from renderer.gl.offscreen import OffscreenRenderer

        if self._ctx is None:
            self._ctx = create_standalone_context()
        key = (camera.width, camera.height)
        if key not in self._gl:
            self._gl[key] = OffscreenRenderer(camera.width, camera.height, ctx=self._ctx, supersample=self.supersample)
        self.engine = "gl"
        return self._gl[key].render(scene, camera, linear=linear)  # type: ignore[attr-defined]

    def _render_torch(self, scene: Scene, camera: Camera, linear: bool) -> np.ndarray:
        from models.render_scene import SceneRenderer

        if self._torch is None or self._torch_scene is not scene:
            self._torch = SceneRenderer.create(scene)
            self._torch_scene = scene
        return self._torch.render(camera, linear=linear, supersample=self.supersample)

    def release(self) -> None:
        for r in self._gl.values():
            try:
                r.release()  # type: ignore[attr-defined]
            except Exception:
                log.debug("releasing an offscreen renderer failed", exc_info=True)
        self._gl.clear()
        if self._ctx is not None:
            try:
                from renderer.gl.context import release_standalone_context

                release_standalone_context(self._ctx)
            except Exception:
                log.debug("releasing the export context failed", exc_info=True)
            self._ctx = None


def display_to_uint8(rgba: np.ndarray, background: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """Display RGBA in [0,1] -> opaque RGB uint8 over `background` (video frames)."""
    a = np.clip(rgba[..., 3:4], 0.0, 1.0)
    rgb = np.clip(rgba[..., :3], 0.0, 1.0) * a + np.asarray(background, np.float32) * (1 - a)
    return (rgb * 255 + 0.5).astype(np.uint8)


# ---------------------------------------------------------------- the job


def run_export(
    request: ExportRequest,
    scene: Scene,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    render: RenderFn | None = None,
) -> list[Path]:
    """Do the export; returns the files written (those written before a
    cancel, too). Raises ExportError (or another RelitError) on failure."""
    request.validate()
    folder = Path(request.folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(folder, f"cannot create folder ({exc.strerror or exc})") from exc
    report = progress or (lambda done, total, message: None)
    written: list[Path] = []
    if request.kind == "asset":
        from models.scene_io import ENVIRONMENT_FILE, MESH_FILE, SCENE_FILE, save_scene

        report(0, 1, "Writing scene.glb, environment.hdr, scene.json")
        save_scene(scene, folder)
        report(1, 1, "Done")
        return [folder / MESH_FILE, folder / ENVIRONMENT_FILE, folder / SCENE_FILE]

    if request.transparent:
        scene = replace(scene, display=replace(scene.display, background="transparent"))
    jobs = _frames(request)
    own = render is None
    render_fn = render or Renderers(supersample=request.supersample)
    video_frames: list[np.ndarray] = []
    total = len(jobs) + (1 if request.video else 0)
    try:
        for i, (name, camera) in enumerate(jobs):
            if cancel is not None and cancel.is_set():
                raise ExportCancelled
            report(i, total, f"Rendering {name} ({i + 1}/{len(jobs)})")
            if request.png or request.video:
                rgba = render_fn(scene, camera, False)
                if request.png:
                    path = folder / f"{name}.png"
                    save_png(path, rgba)
                    written.append(path)
                if request.video:
                    video_frames.append(display_to_uint8(rgba, _video_background(scene)))
            if request.exr:
                linear = render_fn(scene, camera, True)
                path = folder / f"{name}.exr"
                save_exr(path, np.maximum(np.nan_to_num(linear), 0.0))
                written.append(path)
        if request.video and video_frames:
            if cancel is not None and cancel.is_set():
                raise ExportCancelled
            report(len(jobs), total, "Writing video")
            path = folder / f"{request.basename}.mp4"
            write_video(path, video_frames, request.fps)
            written.append(path)
        report(total, total, "Done")
    except ExportCancelled:
        report(len(written), total, "Cancelled")
    finally:
        if own:
            render_fn.release()  # type: ignore[attr-defined]
    return written


def _video_background(scene: Scene) -> tuple[float, float, float]:
    from models.imageio import linear_to_srgb

    return tuple(float(x) for x in linear_to_srgb(np.asarray(scene.display.background_color, np.float32)))


def _frames(request: ExportRequest) -> list[tuple[str, Camera]]:
    """(file stem, camera) per image to render."""
    if request.kind == "view":
        return [(request.basename, camera_at_resolution(request.cameras[0], request.width, request.height))]
    if request.kind == "captures":
        out = []
        for i, cam in enumerate(request.cameras):
            name = request.names[i] if i < len(request.names) else f"view_{i:03d}"
            cam = cam.without_distortion()
            out.append((_safe_stem(name, i), cam if request.scale == 1.0 else cam.scaled(request.scale)))
        return out
    start = camera_at_resolution(request.cameras[0], request.width, request.height)
    cams = turntable_cameras(start, request.center, request.up, request.frames)
    return [(f"{request.basename}_{k:04d}", cam) for k, cam in enumerate(cams)]


def _safe_stem(name: str, index: int) -> str:
    stem = Path(name).stem or f"view_{index:03d}"
    keep = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)
    return f"{index:03d}_{keep}"  # the index keeps views of the same name (other splits) apart
