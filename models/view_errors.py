"""How well a fitted Scene explains each photo: render every capture view
and compare it with the photo inside the object's mask, in sRGB display
space (how a person sees the difference).

The GUI's per-view table shows these, worst first, so the photos the fit
explains least (wrong pose, moving light, reflections) stand out.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from models.camera import Camera
from models.imageio import linear_to_srgb
from models.scene import DisplaySettings, Scene


class ViewLike(Protocol):
    """What scoring needs of a view (models.fitter.FitView fits)."""

    camera: Camera
    image: np.ndarray
    mask: np.ndarray | None
    name: str


@dataclass(frozen=True)
class ViewError:
    """The fit's error on one photo: PSNR (dB) and mean absolute error of
    sRGB pixels over the `pixels` compared (object in both mask and render)."""

    index: int
    name: str
    psnr: float
    mae: float
    pixels: int


def compare(render_linear: np.ndarray, photo_linear: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, float, int]:
    """(psnr dB, mae, pixel count) between a linear RGBA render (H,W,4) and a
    linear photo (H,W,3) where the render covers the object and the mask
    (if any) is at least 0.5. Both are clipped to [0,1] and sRGB-encoded."""
    if render_linear.shape[:2] != photo_linear.shape[:2]:
        raise ValueError(f"render {render_linear.shape[:2]} and photo {photo_linear.shape[:2]} differ in size")
    use = render_linear[..., 3] > 0.5
    if mask is not None:
        use &= mask >= 0.5
    n = int(use.sum())
    if n == 0:
        return math.nan, math.nan, 0
    a = linear_to_srgb(np.clip(render_linear[..., :3][use], 0.0, 1.0).astype(np.float32))
    b = linear_to_srgb(np.clip(photo_linear[..., :3][use], 0.0, 1.0).astype(np.float32))
    d = a.astype(np.float64) - b.astype(np.float64)
    mse = float(np.mean(d * d))
    psnr = 10.0 * math.log10(1.0 / mse) if mse > 0 else math.inf
    return psnr, float(np.mean(np.abs(d))), n


Render = Callable[[Camera], np.ndarray]
"""Linear RGBA (H,W,4) of the scene seen by a camera (alpha = coverage)."""


def torch_render(scene: Scene, device: str | None = None) -> Render:
    """A Render through models.render_scene (built once for all views), with
    neutral display settings and a transparent background."""
    from models.render_scene import SceneRenderer

    neutral = replace(scene, display=DisplaySettings(background="transparent"))
    renderer = SceneRenderer.create(neutral, device)
    return lambda camera: renderer.render(camera, linear=True, background="transparent")


def score_views(
    scene: Scene,
    views: Sequence[ViewLike],
    render: Render | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> list[ViewError]:
    """A ViewError per view, in view order (stops early, returning what it
    has, when `cancel` is set)."""
    render = render or torch_render(scene)
    out: list[ViewError] = []
    for i, view in enumerate(views):
        if cancel is not None and cancel.is_set():
            break
        psnr, mae, n = compare(render(view.camera), view.image, view.mask)
        out.append(ViewError(i, view.name or f"view {i}", psnr, mae, n))
        if progress is not None:
            progress(i + 1, len(views))
    return out


def worst_first(errors: Sequence[ViewError]) -> list[ViewError]:
    """Errors sorted by PSNR ascending (views with no pixels last)."""
    return sorted(errors, key=lambda e: (math.isnan(e.psnr), e.psnr if not math.isnan(e.psnr) else 0.0))


def outliers(errors: Sequence[ViewError], margin_db: float = 3.0) -> set[int]:
    """Indices of views whose PSNR is `margin_db` or more below the median
    (the photos the fit explains least)."""
    values = [e.psnr for e in errors if math.isfinite(e.psnr)]
    if len(values) < 3:
        return set()
    median = float(np.median(values))
    return {e.index for e in errors if math.isfinite(e.psnr) and e.psnr <= median - margin_db}


def display_pair(
    render_linear: np.ndarray, photo_linear: np.ndarray, mask: np.ndarray | None = None,
    background: float = 0.18,
) -> tuple[np.ndarray, np.ndarray]:
    """(photo, render) as sRGB uint8 (H,W,3) for a side-by-side look: both
    encoded the same way (clip, sRGB), the render composited over a grey of
    linear `background` where it does not cover, the photo too outside its
    mask (when it has one)."""
    bg = np.float32(background)
    a = np.clip(render_linear[..., 3:4], 0.0, 1.0)
    render = np.clip(render_linear[..., :3], 0.0, 1.0) * a + bg * (1 - a)
    photo = np.clip(photo_linear[..., :3], 0.0, 1.0)
    if mask is not None:
        m = np.clip(mask, 0.0, 1.0)[..., None]
        photo = photo * m + bg * (1 - m)

    def to8(x: np.ndarray) -> np.ndarray:
        return (linear_to_srgb(x.astype(np.float32)) * 255.0 + 0.5).astype(np.uint8)

    return to8(photo), to8(render)
