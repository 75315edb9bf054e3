"""A capture: a folder of calibrated photos of one object, in whichever layout
it came (NeRF-synthetic, instant-ngp, nerfstudio, COLMAP).

`load_capture` detects the layout, checks every file cheaply (existence,
header sizes, poses) and decodes no pixels, so describing a capture is fast
and a bad one fails at once with a CaptureError naming the file. Pixels are
decoded on demand by `View.load()` (linear float32, undistorted to a pinhole
camera, downscaled) or for many views at once by `Capture.load_all()`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from models.camera import Camera
from models.capture_formats.common import IMAGE_EXTENSIONS, Frame, ParsedCapture, header_size
from models.errors import CaptureError, ImageError
from models.mesh import Mesh

LAYOUTS = ("nerf-synthetic", "instant-ngp", "nerfstudio", "colmap")
# Where a view's mask comes from (see View.mask_source).
MaskSource = Literal["mask_path", "masks/", "alpha"]


@dataclass(frozen=True, eq=False)
class View:
    """One photo and its camera.

    `calibrated` is the camera as the capture file states it (full resolution,
    with distortion); `source_camera` is that camera at the loaded resolution
    and `camera` the one the loaded pixels obey: pinhole (same K) when the
    capture was loaded with undistortion, else `source_camera`.
    `mask_source` is "mask_path" (named per frame), "masks/" (a file of the
    same name in the capture's masks/ folder), "alpha" (the photo's alpha
    channel) or None.
    """

    name: str
    image_path: Path
    calibrated: Camera
    split: str = "train"
    mask_path: Path | None = None
    mask_source: MaskSource | None = None
    downscale: int = 1
    undistort: bool = True

    @property
    def source_camera(self) -> Camera:
        return self.calibrated if self.downscale == 1 else self.calibrated.scaled(1 / self.downscale)

    @property
    def camera(self) -> Camera:
        source = self.source_camera
        return source.without_distortion() if self.undistorts else source

    @property
    def undistorts(self) -> bool:
        """Whether loading resamples the photo to remove lens distortion."""
        return self.undistort and not self.calibrated.distortion.is_identity

    def load(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(image (H,W,3) linear float32, mask (H,W) float32 in [0,1] or None),
        decoding the photo once."""
        pixels = _decode(self.image_path, self.calibrated)
        image = pixels[:, :, :3] if pixels.shape[2] >= 3 else np.repeat(pixels[:, :, :1], 3, axis=2)
        if self.mask_source == "alpha":
            mask = pixels[:, :, 3] if pixels.shape[2] == 4 else np.ones(pixels.shape[:2], np.float32)
        elif self.mask_path is not None:
            mask = _decode_mask(self.mask_path, self.calibrated)
        else:
            mask = None
        return self._resample(image), None if mask is None else np.clip(self._resample(mask), 0.0, 1.0)

    def load_image(self) -> np.ndarray:
        """Linear float32 (H,W,3) pixels as seen by `camera`."""
        return self.load()[0]

    def load_mask(self) -> np.ndarray | None:
        """float32 (H,W) in [0,1] (1 = object) as seen by `camera`, or None."""
        if self.mask_source is None:
            return None
        if self.mask_source == "alpha":
            return self.load()[1]
        return np.clip(self._resample(_decode_mask(self.mask_path, self.calibrated)), 0.0, 1.0)

    def load_coverage(self) -> np.ndarray | None:
        """bool (H,W): pixels that saw the photo itself after undistortion
        (the rest repeat its edge); None when the photo was not resampled."""
        if not self.undistorts:
            return None
        from models.capture_formats.undistort import coverage, downscale

        full = coverage(self.calibrated).astype(np.float32)
        return downscale(full, self.camera.width, self.camera.height) > 0.999

    def _resample(self, pixels: np.ndarray) -> np.ndarray:
        from models.capture_formats.undistort import downscale, undistort

        if self.undistorts:
            pixels = undistort(pixels, self.calibrated)
        target = self.camera
        return downscale(pixels, target.width, target.height)


@dataclass(frozen=True)
class ImageSet:
    """Decoded pixels of several views, in the same order."""

    views: tuple[View, ...]
    images: list[np.ndarray]
    masks: list[np.ndarray | None]


@dataclass(frozen=True, eq=False)
class Capture:
    """A loaded capture folder.

    Relit's world is +Y up (environment maps hang on +Y), so every pose,
    sparse point and mesh of the capture is turned by `world_from_capture`
    (4x4 rotation) from the file's world into Relit's. `up` is the file's own
    up direction: an explicit `"up"` in transforms.json, the layout's
    convention (+Z for NeRF-synthetic, instant-ngp and nerfstudio) or, for
    COLMAP, estimated from the cameras. `world_from_source` is nerfstudio's
    `applied_transform` (source reconstruction world -> the file's world).
    """

    root: Path
    layout: str
    views: tuple[View, ...]
    mesh_path: Path | None = None
    aabb_scale: float | None = None
    downscale: int = 1
    up: np.ndarray = field(default_factory=lambda: np.array([0.0, 1.0, 0.0]))
    up_source: str = "estimated from the cameras"
    world_from_source: np.ndarray | None = None
    world_from_capture: np.ndarray = field(default_factory=lambda: np.eye(4))
    _parsed: ParsedCapture | None = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def splits(self) -> dict[str, int]:
        """View count per split, in train/val/test order."""
        counts: dict[str, int] = {}
        for v in sorted(self.views, key=lambda v: ("train", "val", "test").index(v.split)):
            counts[v.split] = counts.get(v.split, 0) + 1
        return counts

    def split(self, name: str) -> tuple[View, ...]:
        return tuple(v for v in self.views if v.split == name)

    @property
    def mask_sources(self) -> dict[str, int]:
        """How many views take their mask from each source ("none" for none)."""
        counts: dict[str, int] = {}
        for v in self.views:
            key = v.mask_source or "none"
            counts[key] = counts.get(key, 0) + 1
        return counts

    def load_mesh(self) -> Mesh | None:
        """The capture's own mesh (read once, then cached), or None."""
        if self.mesh_path is None:
            return None
        if "mesh" not in self._cache:
            from models.capture_formats.meshes import load_mesh

            mesh = load_mesh(self.mesh_path, self.root)
            self._cache["mesh"] = transform_mesh(mesh, self.world_from_capture)
        return self._cache["mesh"]

    def bounding_sphere(self) -> tuple[np.ndarray, float]:
        """(centre (3,), radius) of the object: from the mesh when the capture
        has one, else from the camera rig (see models.capture_formats.rig)."""
        if "sphere" not in self._cache:
            mesh = self.load_mesh()
            if mesh is not None:
                self._cache["sphere"] = mesh.bounding_sphere()
            else:
                from models.capture_formats.rig import rig_sphere

                parsed = self._parsed
                points = parsed.points() if parsed is not None and parsed.points is not None else None
                radius_bound = parsed.scene_radius if parsed is not None else None
                with np.errstate(all="ignore"):
                    sphere = rig_sphere([v.camera for v in self.views], points, radius_bound)
                if not (np.isfinite(sphere[0]).all() and np.isfinite(sphere[1])):
                    raise CaptureError(self.root, "the camera poses do not bound any region (non-finite result)")
                self._cache["sphere"] = sphere
        return self._cache["sphere"]

    @property
    def bounding_sphere_source(self) -> str:
        return "mesh" if self.mesh_path is not None else "camera rig"

    def load_all(
        self,
        split: str | None = "train",
        progress: Callable[[int, int], None] | None = None,
        workers: int | None = None,
    ) -> ImageSet:
        """Decode every view of `split` (all views for None). `progress(done,
        total)` is called from this thread after each view; raise from it to
        cancel. Decoding runs on a few threads (Pillow releases the GIL)."""
        views = self.views if split is None else self.split(split)
        workers = workers or min(4, os.cpu_count() or 1)
        images: list[np.ndarray] = [None] * len(views)  # type: ignore[list-item]
        masks: list[np.ndarray | None] = [None] * len(views)
        if progress is not None:
            progress(0, len(views))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            try:
                for i, (image, mask) in enumerate(pool.map(View.load, views)):
                    images[i], masks[i] = image, mask
                    if progress is not None:
                        progress(i + 1, len(views))
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        return ImageSet(views, images, masks)


def detect_layout(root: Path) -> str | None:
    """The layout of a capture folder, or None when none is recognised."""
    from models.capture_formats.colmap import find_sparse
    from models.capture_formats.nerf import is_nerfstudio, load_json

    root = Path(root)
    if any((root / f"transforms_{s}.json").is_file() for s in ("train", "val", "test")):
        return "nerf-synthetic"
    if (root / "transforms.json").is_file():
        return "nerfstudio" if is_nerfstudio(load_json(root / "transforms.json")) else "instant-ngp"
    if find_sparse(root) is not None:
        return "colmap"
    return None


def load_capture(path: str | Path, downscale: int = 1, undistort: bool = True) -> Capture:
    """Open a capture folder (or its transforms*.json) without decoding pixels.

    `downscale` is an integer factor applied to every image and camera;
    `undistort` makes views resample photos to pinhole cameras.
    Raises CaptureError naming the file and the problem.
    """
    from models.capture_formats.colmap import read_colmap
    from models.capture_formats.meshes import find_mesh
    from models.capture_formats.nerf import read_nerf_synthetic, read_transforms

    if isinstance(downscale, bool) or not isinstance(downscale, (int, np.integer)) or downscale < 1:
        raise CaptureError(path, f"downscale must be a whole number >= 1, got {downscale!r}")
    path = Path(path)
    if not path.exists():
        raise CaptureError(path, "does not exist")
    if path.is_file():
        if not (path.name.startswith("transforms") and path.suffix == ".json"):
            raise CaptureError(path, "is a file; give the capture folder (or its transforms.json)")
        root = path.parent
        parsed = read_transforms(root, path) if path.name == "transforms.json" else read_nerf_synthetic(root)
    else:
        root = path
        layout = detect_layout(root)
        if layout is None:
            raise CaptureError(
                root,
                "no recognisable capture layout: expected transforms.json, transforms_{train,val,test}.json "
                "or a COLMAP model in sparse/0 (or sparse/)",
            )
        if layout == "nerf-synthetic":
            parsed = read_nerf_synthetic(root)
        elif layout == "colmap":
            parsed = read_colmap(root)
        else:
            parsed = read_transforms(root, root / "transforms.json")
    from models.capture_formats.rig import estimate_up

    up = parsed.up if parsed.up is not None else estimate_up([f.camera for f in parsed.frames])
    world = up_to_y(up)
    parsed = _in_relit_world(parsed, world)
    views = tuple(_view(root, f, int(downscale), undistort) for f in parsed.frames)
    return Capture(
        root=root,
        layout=parsed.layout,
        views=views,
        mesh_path=find_mesh(root, parsed.not_meshes),
        aabb_scale=parsed.aabb_scale,
        downscale=int(downscale),
        up=up,
        up_source="estimated from the cameras" if parsed.up is None else f"{parsed.layout} convention",
        world_from_source=parsed.world_from_source,
        world_from_capture=world,
        _parsed=parsed,
    )


def up_to_y(up: np.ndarray) -> np.ndarray:
    """4x4 rotation turning the unit vector `up` onto +Y (the shortest turn;
    half a turn about X when `up` is -Y)."""
    a = np.asarray(up, np.float64) / np.linalg.norm(up)
    b = np.array([0.0, 1.0, 0.0])
    v, c = np.cross(a, b), float(a @ b)
    m = np.eye(4)
    if c < -1 + 1e-12:
        m[:3, :3] = np.diag([1.0, -1.0, -1.0])
        return m
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    m[:3, :3] = np.eye(3) + vx + vx @ vx / (1 + c)
    return m


def transform_mesh(mesh: Mesh, world: np.ndarray) -> Mesh:
    """The mesh moved by the rigid 4x4 transform `world`."""
    if np.allclose(world, np.eye(4)):
        return mesh
    r, t = world[:3, :3], world[:3, 3]
    return replace(
        mesh,
        vertices=(mesh.vertices @ r.T + t).astype(np.float32),
        normals=(mesh.normals @ r.T).astype(np.float32),
    )


def _in_relit_world(parsed: ParsedCapture, world: np.ndarray) -> ParsedCapture:
    """The parsed capture with poses and sparse points turned by `world`."""
    if np.allclose(world, np.eye(4)):
        return parsed
    frames = tuple(replace(f, camera=replace(f.camera, c2w=world @ f.camera.c2w)) for f in parsed.frames)
    points = parsed.points
    if points is not None:
        source_points = points
        points = lambda: source_points() @ world[:3, :3].T  # noqa: E731
    return replace(parsed, frames=frames, points=points)


def _view(root: Path, frame: Frame, downscale: int, undistort: bool) -> View:
    mask_path, source = frame.mask_path, "mask_path" if frame.mask_path is not None else None
    if mask_path is None:
        mask_path = _mask_in_folder(root, frame.image_path)
        source = "masks/" if mask_path is not None else None
    if mask_path is not None:
        size = header_size(mask_path)
        if size != (frame.camera.width, frame.camera.height):
            raise CaptureError(
                mask_path, f"mask is {size[0]}x{size[1]} but its image {frame.name} is "
                f"{frame.camera.width}x{frame.camera.height}"
            )
    elif _has_alpha(frame.image_path):
        source = "alpha"
    return View(frame.name, frame.image_path, frame.camera, frame.split, mask_path, source, downscale, undistort)


def _mask_in_folder(root: Path, image: Path) -> Path | None:
    """A file in root/masks matching the image by name: same relative path or
    file name, with the image's extension, another image extension, or the
    whole file name plus .png (COLMAP's convention)."""
    masks = root / "masks"
    if not masks.is_dir():
        return None
    real_masks = masks.resolve()
    rel = Path(os.path.relpath(image, root))
    bases = [Path(image.name)] + ([Path(*rel.parts[1:])] if len(rel.parts) > 1 else [])
    for base in bases:
        candidates = [base, base.with_name(base.name + ".png")]
        candidates += [base.with_suffix(ext) for ext in IMAGE_EXTENSIONS]
        for c in candidates:
            p = masks / c
            if p.is_file() and p.resolve().is_relative_to(real_masks):
                return p
    return None


def _has_alpha(path: Path) -> bool:
    """Whether the image file carries an alpha channel, from its header."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".exr":
            import OpenEXR

            channels = OpenEXR.File(str(path), header_only=True).header()["channels"]
            return any(getattr(c, "name", str(c)) == "A" for c in channels)
        if suffix in (".hdr", ".pic", ".rgbe"):
            return False
        from PIL import Image

        with Image.open(path) as im:
            return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info)
    except Exception:  # unreadable headers were already reported by header_size
        return False


def _decode(path: Path, camera: Camera) -> np.ndarray:
    """Pixels of `path` (H,W,C) linear float32, checked against the camera."""
    from models.imageio import load_image

    try:
        pixels = load_image(path)
    except ImageError as exc:
        raise CaptureError(path, exc.problem) from None
    if pixels.shape[:2] != (camera.height, camera.width):
        raise CaptureError(
            path, f"decoded to {pixels.shape[1]}x{pixels.shape[0]}, but its camera is {camera.width}x{camera.height}"
        )
    return pixels


def _decode_mask(path: Path, camera: Camera) -> np.ndarray:
    """A mask file as stored values in [0,1]: alpha when it has a varying
    one, else its first channel (re-encoded to sRGB for 8/16-bit files, which
    load_image linearises)."""
    from models.imageio import LDR_SUFFIXES, linear_to_srgb

    pixels = _decode(path, camera)
    if pixels.shape[2] == 4 and float(pixels[:, :, 3].min()) < 1.0:
        return np.ascontiguousarray(pixels[:, :, 3])
    grey = pixels[:, :, 0]
    if path.suffix.lower() in LDR_SUFFIXES:
        grey = linear_to_srgb(grey)
    return np.ascontiguousarray(grey, np.float32)
