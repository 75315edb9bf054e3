"""What every capture reader shares: the parsed frame type, safe path joining
(a capture folder is untrusted input) and pose checks."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.camera import Camera
from models.errors import CaptureError, ImageError

# Extensions tried, in order, for a file_path given without one (NeRF-synthetic).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".exr", ".hdr", ".tif", ".tiff", ".webp", ".bmp")


@dataclass(frozen=True)
class Frame:
    """One photo as its layout describes it, before downscaling/undistortion.

    `camera` is full resolution, as calibrated (distortion included), with the
    pose in Relit's convention (c2w, OpenGL axes).
    """

    name: str
    image_path: Path
    camera: Camera
    split: str = "train"
    mask_path: Path | None = None


@dataclass(frozen=True)
class ParsedCapture:
    """A reader's result: frames plus the layout's optional extras."""

    layout: str
    frames: tuple[Frame, ...]
    aabb_scale: float | None = None
    # Radius (world units) of the sphere around the origin that the layout says
    # holds the scene (instant-ngp's aabb); an upper bound for the bounding sphere.
    scene_radius: float | None = None
    # nerfstudio `applied_transform` (4x4): maps the source reconstruction's
    # world (e.g. COLMAP) into the world these poses are in.
    world_from_source: np.ndarray | None = None
    # World up as the layout defines it, or None when it must be estimated.
    up: np.ndarray | None = None
    # Lazily read sparse points (N,3) in world coordinates, when the layout has them.
    points: Callable[[], np.ndarray] | None = None
    # Files in the folder that are data of the layout, not an object mesh.
    not_meshes: frozenset[Path] = field(default_factory=frozenset)


def inside(root: Path, relative: object, source: Path, what: str) -> Path:
    """`root / relative`, refusing anything that leaves `root` (.., absolute
    paths elsewhere, symlinks pointing out)."""
    if not isinstance(relative, str) or not relative.strip():
        raise CaptureError(source, f"{what} must be a non-empty string, got {relative!r:.80}")
    if "\x00" in relative:
        raise CaptureError(source, f"{what} {relative!r:.80} contains a NUL character")
    joined = Path(os.path.normpath(root / relative))
    try:
        real = joined.resolve()
        real.relative_to(root.resolve())
    except (ValueError, OSError, RuntimeError):
        raise CaptureError(source, f"{what} {relative!r:.80} leaves the capture folder {root}; refused") from None
    return joined


def find_image(root: Path, relative: object, source: Path, what: str = "file_path") -> Path:
    """The image a frame names; tries the usual extensions when it has none
    that exists (NeRF-synthetic writes "./train/r_0")."""
    path = inside(root, relative, source, what)
    if path.is_file():
        return path
    for ext in IMAGE_EXTENSIONS:
        for candidate in (path.with_name(path.name + ext), path.with_name(path.name + ext.upper())):
            if candidate.is_file():
                return inside(root, os.path.relpath(candidate, root), source, what)
    if path.exists():
        raise CaptureError(path, f"is not a file ({what} in {source.name})")
    tried = "" if path.suffix.lower() in IMAGE_EXTENSIONS else f" (also tried {', '.join(IMAGE_EXTENSIONS)})"
    raise CaptureError(path, f"image not found{tried}; named by {what} in {source.name}")


def header_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image header, as a CaptureError on failure."""
    from models.imageio import image_size

    try:
        w, h = image_size(path)
    except ImageError as exc:
        raise CaptureError(path, exc.problem) from None
    except OSError as exc:
        raise CaptureError(path, f"cannot read: {exc.strerror or exc}") from None
    return int(w), int(h)


def check_c2w(matrix: object, source: Path, where: str) -> np.ndarray:
    """A 4x4 camera-to-world matrix from JSON-ish data; a CaptureError for
    anything that is not a finite rigid transform (rotation + translation).
    The rotation is snapped to the nearest exact rotation."""
    try:
        m = np.array(matrix, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        raise CaptureError(source, f"{where}: transform_matrix is not a matrix of numbers") from None
    if m.shape == (3, 4):
        m = np.vstack([m, [0.0, 0.0, 0.0, 1.0]])
    if m.shape != (4, 4):
        raise CaptureError(source, f"{where}: transform_matrix must be 4x4 (or 3x4), got shape {m.shape}")
    if not np.isfinite(m).all():
        raise CaptureError(source, f"{where}: transform_matrix holds NaN or infinite values")
    if np.abs(m[3] - [0.0, 0.0, 0.0, 1.0]).max() > 1e-6:
        raise CaptureError(source, f"{where}: transform_matrix's last row is {m[3].tolist()}, not [0, 0, 0, 1]")
    check_rotation(m[:3, :3], source, where)
    check_position(m[:3, 3], source, where)
    m[:3, :3] = orthonormalised(m[:3, :3])
    return m


# Farther than this from the origin no capture is meaningful (geo-referenced
# coordinates are ~1e7 m) and squared distances would overflow.
MAX_COORDINATE = 1e9


def check_position(t: np.ndarray, source: Path, where: str) -> None:
    if not float(np.abs(t).max()) <= MAX_COORDINATE:
        raise CaptureError(source, f"{where}: camera position ({', '.join(f'{x:.4g}' for x in t)}) is implausibly far out")


def orthonormalised(r: np.ndarray) -> np.ndarray:
    """The rotation nearest to `r` (files store float32 rotations that are
    orthonormal only to ~1e-6; downstream maths wants exact rigid poses)."""
    u, _, vt = np.linalg.svd(r)
    return u @ vt


def check_rotation(r: np.ndarray, source: Path, where: str, tol: float = 1e-3) -> None:
    """Refuse zero, scaled, sheared or mirrored rotations."""
    error = float(np.abs(r.T @ r - np.eye(3)).max())
    if not error <= tol:
        raise CaptureError(source, f"{where}: rotation is not orthonormal (R^T R differs from I by {error:.3g})")
    if np.linalg.det(r) < 0:
        raise CaptureError(source, f"{where}: rotation is a reflection (determinant -1)")


def number(value: object, source: Path, where: str, positive: bool = False) -> float:
    """A finite JSON number (bools and strings are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CaptureError(source, f"{where} must be a number, got {value!r:.80}")
    try:
        x = float(value)
    except OverflowError:
        x = math.inf
    if not math.isfinite(x) or (positive and x <= 0):
        raise CaptureError(source, f"{where} must be a finite{' positive' if positive else ''} number, got {value!r:.80}")
    return x


def pixel_count(value: object, source: Path, where: str) -> int:
    """An image dimension: a positive whole number (1080.0 is fine)."""
    x = number(value, source, where, positive=True)
    if x != int(x) or x > 1_000_000:
        raise CaptureError(source, f"{where} must be a whole number of pixels, got {value!r:.80}")
    return int(x)
