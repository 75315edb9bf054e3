"""A library of HDR environments: the presets bundled in resources/hdri, any
folders the user points at, and loading one .hdr/.exr as an Environment
with errors that name the file and the problem.

An environment map is equirectangular (width = 2 x height, +Y up, row 0 at
the top) with linear, finite, non-negative radiance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from models.errors import ImageError, RelitError
from models.imageio import linear_to_srgb, load_image
from models.lighting import Environment

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "resources" / "hdri"
HDRI_SUFFIXES = (".hdr", ".exr")
ASPECT_TOLERANCE = 0.05
"""How far width/height may be from 2 (relative) for an equirectangular map."""

Source = Literal["bundled", "user", "file", "recovered"]


class HdriError(RelitError):
    """An HDR environment file or folder cannot be used."""


@dataclass(frozen=True)
class HdriEntry:
    """One choice in the library: a file (bundled preset, a user folder's
    file, or a single file the user opened) or the recovered environment of
    a fit (`path` None)."""

    name: str
    path: Path | None
    source: Source

    @property
    def key(self) -> str:
        """Stable identity for lists and settings."""
        return "recovered" if self.path is None else str(self.path)


def is_hdri_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in HDRI_SUFFIXES


def scan_folder(folder: str | Path, source: Source = "user") -> list[HdriEntry]:
    """The .hdr/.exr files directly in `folder`, sorted by name (case-blind).
    Raises HdriError when the folder is missing or unreadable."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise HdriError(folder, "folder not found")
    if not folder.is_dir():
        raise HdriError(folder, "not a folder")
    try:
        files = [p for p in folder.iterdir() if p.is_file() and is_hdri_file(p)]
    except OSError as exc:
        raise HdriError(folder, f"cannot list folder ({exc.strerror or exc})") from exc
    return [HdriEntry(p.stem, p, source) for p in sorted(files, key=lambda p: p.name.lower())]


def bundled_presets(folder: Path = BUNDLED_DIR) -> list[HdriEntry]:
    """The presets that ship with Relit (empty when the folder is missing)."""
    try:
        return scan_folder(folder, "bundled")
    except HdriError:
        return []


def library(user_folders: tuple[str | Path, ...] | list[str | Path] = (), bundled: Path = BUNDLED_DIR) -> tuple[list[HdriEntry], list[HdriError]]:
    """Bundled presets then each user folder's files (duplicates dropped),
    and the errors of folders that could not be read."""
    entries = bundled_presets(bundled)
    seen = {e.path.resolve() for e in entries if e.path is not None}
    errors: list[HdriError] = []
    for folder in user_folders:
        try:
            found = scan_folder(folder, "user")
        except HdriError as exc:
            errors.append(exc)
            continue
        for e in found:
            real = e.path.resolve()
            if real not in seen:
                seen.add(real)
                entries.append(e)
    return entries, errors


def load_radiance(path: str | Path) -> np.ndarray:
    """Linear radiance (H, 2H, 3) float32 of an equirectangular .hdr/.exr.
    Raises HdriError naming the file and what is wrong with it."""
    path = Path(path).expanduser()
    if not is_hdri_file(path):
        raise HdriError(path, f"not an HDR environment: use {' or '.join(HDRI_SUFFIXES)} (got '{path.suffix or 'no extension'}')")
    try:
        image = load_image(path, srgb=False)
    except ImageError as exc:
        raise HdriError(exc.path or path, exc.problem) from exc
    h, w = image.shape[:2]
    if h < 2 or w < 4:
        raise HdriError(path, f"too small for an environment map ({w}x{h})")
    aspect = w / h
    if abs(aspect / 2.0 - 1.0) > ASPECT_TOLERANCE:
        raise HdriError(path, f"not an equirectangular map: width must be twice the height (got {w}x{h})")
    c = image.shape[2]
    if c == 1:
        image = np.repeat(image, 3, axis=2)
    elif c >= 3:
        image = image[:, :, :3]
    else:
        raise HdriError(path, f"unexpected channel count {c}")
    if not np.isfinite(image).all():
        raise HdriError(path, "holds non-finite values (NaN or infinity)")
    if float(image.max(initial=0.0)) <= 0.0:
        raise HdriError(path, "is completely black")
    return np.ascontiguousarray(np.maximum(image, 0.0), np.float32)


def load_environment(path: str | Path, like: Environment | None = None) -> Environment:
    """An Environment from an .hdr/.exr file, named after it; rotation,
    exposure and strength come from `like` (the current one) when given."""
    path = Path(path).expanduser()
    radiance = load_radiance(path)
    if like is None:
        return Environment(radiance, name=path.stem)
    return Environment(radiance, like.rotation_deg, like.exposure_ev, like.strength, name=path.stem)


def thumbnail(radiance: np.ndarray, width: int = 96) -> np.ndarray:
    """A small display preview (h, width, 3) uint8 of an environment:
    area-resampled, exposed so its median reads mid-grey, sRGB."""
    a = np.asarray(radiance, np.float32)[..., :3]
    h, w = a.shape[:2]
    tw = max(2, int(width))
    th = max(1, tw // 2)
    ys = np.linspace(0, h, th + 1).astype(int)
    xs = np.linspace(0, w, tw + 1).astype(int)
    # Area averages through cumulative sums (cheap for any size).
    c = np.zeros((h + 1, w + 1, 3), np.float64)
    c[1:, 1:] = a.cumsum(0).cumsum(1)
    y0, y1 = ys[:-1], np.maximum(ys[1:], ys[:-1] + 1)
    x0, x1 = xs[:-1], np.maximum(xs[1:], xs[:-1] + 1)
    y1, x1 = np.minimum(y1, h), np.minimum(x1, w)
    s = c[y1][:, x1] - c[y0][:, x1] - c[y1][:, x0] + c[y0][:, x0]
    area = ((y1 - y0)[:, None] * (x1 - x0)[None, :])[..., None]
    small = s / np.maximum(area, 1)
    lum = small.mean(-1)
    median = float(np.median(lum)) if lum.size else 1.0
    scaled = small * (0.18 / max(median, 1e-6))
    mapped = scaled / (1.0 + scaled)  # Reinhard keeps bright suns in range
    return (np.clip(linear_to_srgb(mapped.astype(np.float32)), 0, 1) * 255 + 0.5).astype(np.uint8)
