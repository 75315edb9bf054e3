"""Shared helpers of the panel tests: a tiny two-tone scene, a fast fit
configuration, the main window with the panels installed, screenshots."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from models.fit_config import FitConfig
from models.lighting import Environment, Lighting
from models.material import MaterialMaps
from models.mesh import Mesh
from models.scene import DisplaySettings, Scene

REPO = Path(__file__).resolve().parents[2]
SAMPLE_CAPTURE = REPO / "resources" / "sample_capture"
TEX = 64
RED, BLUE = (0.8, 0.08, 0.05), (0.05, 0.1, 0.7)


def uv_sphere(n_lat: int = 24, n_lon: int = 48, radius: float = 1.0) -> Mesh:
    """A latitude-longitude sphere with UVs: u = longitude, v = 1 at the
    north (+Y) pole; one UV chart (the seam column is duplicated)."""
    verts, uvs = [], []
    for i in range(n_lat + 1):
        theta = math.pi * i / n_lat
        for j in range(n_lon + 1):
            phi = 2 * math.pi * j / n_lon
            verts.append((radius * math.sin(theta) * math.sin(phi), radius * math.cos(theta), radius * math.sin(theta) * math.cos(phi)))
            uvs.append((j / n_lon, 1.0 - i / n_lat))
    faces = []
    w = n_lon + 1
    for i in range(n_lat):
        for j in range(n_lon):
            a, b, c, d = i * w + j, i * w + j + 1, (i + 1) * w + j, (i + 1) * w + j + 1
            faces += [(a, c, b), (b, c, d)]
    return Mesh.from_arrays(np.array(verts, np.float32), np.array(faces, np.int32), np.array(uvs, np.float32))


def two_tone_maps(resolution: int = TEX) -> MaterialMaps:
    """Upper hemisphere (texture rows above the middle) red and rough, lower
    blue, smooth and metallic."""
    r = resolution
    albedo = np.empty((r, r, 3), np.float32)
    albedo[: r // 2] = RED
    albedo[r // 2 :] = BLUE
    rough = np.where(np.arange(r)[:, None] < r // 2, 0.8, 0.25).astype(np.float32) * np.ones((1, r), np.float32)
    metal = np.where(np.arange(r)[:, None] < r // 2, 0.0, 0.9).astype(np.float32) * np.ones((1, r), np.float32)
    return MaterialMaps(albedo, rough, metal)


def sky_environment(h: int = 16, name: str = "sky") -> Environment:
    rows = np.linspace(1.6, 0.2, h, dtype=np.float32)[:, None, None]
    radiance = np.broadcast_to(rows * np.array([0.7, 0.85, 1.0], np.float32), (h, 2 * h, 3)).copy()
    radiance[h // 4, h // 2] = 60.0  # a small sun
    return Environment(radiance, name=name)


def two_tone_scene() -> Scene:
    return Scene(uv_sphere(), two_tone_maps(), Lighting(sky_environment()), DisplaySettings(background="environment"))


def fast_fit_config(**changes) -> FitConfig:
    """A fit of the sample capture that takes seconds on a CPU (its mesh
    baked as it is, not subdivided: 4x fewer vertices to bake AO and
    specular visibility for)."""
    base = FitConfig(
        iterations=6, texture_resolution=32, batch_size=256, max_views=2, downscale=4, ao_rays=4,
        ao_max_edge=0.0, env_height=4, progress_every=1, preview_size=8, device="cpu",
    )
    return base.with_overrides(**changes)


@pytest.fixture
def panels(main_window, tmp_path: Path) -> Iterator:
    """The main window (tests/app/conftest.py) with install_panels applied,
    autosave off and recovery in a temporary folder."""
    from app.panels import install_panels

    installed = install_panels(main_window, recovery_root=tmp_path / "recovery", autosave_interval_s=0,
                               offer_recovery=False)
    yield installed
    installed.sync.shutdown()


def shoot(widget, artifacts: Path, name: str) -> Path:
    """Save a screenshot of `widget` to test-artifacts/ and return its path
    (a panel in a tabbed dock is brought to the front first)."""
    from PySide6.QtWidgets import QApplication, QDockWidget

    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QDockWidget):
        parent = parent.parentWidget()
    if parent is not None:
        parent.raise_()
        QApplication.processEvents()
    from PySide6.QtWidgets import QScrollArea

    target = widget
    scroll = widget if isinstance(widget, QScrollArea) else widget.findChild(QScrollArea)
    if scroll is not None and scroll.widget() is not None and scroll.parentWidget() is widget:
        target = scroll.widget()  # the whole panel, also what is scrolled out of view
    path = artifacts / f"{name}.png"
    assert target.grab().save(str(path)), f"could not save {path}"
    return path


@pytest.fixture
def lit(panels, qtbot):
    """Panels with the two-tone sphere as the document, framed and rendered."""
    panels.session.new_document(two_tone_scene())
    vp = panels.sync.window.viewport
    vp.frame_scene()
    frames = vp.frames_rendered
    qtbot.waitUntil(lambda: vp.frames_rendered > frames, timeout=10000)
    return panels


def viewport_pixels(panels) -> np.ndarray:
    """The viewport's refined frame as float32 (H, W, 3) RGB."""
    from PySide6.QtGui import QImage

    img = panels.sync.window.viewport.grab_image().convertToFormat(QImage.Format.Format_RGBA8888)
    w, h, stride = img.width(), img.height(), img.bytesPerLine()
    data = np.frombuffer(img.constBits(), np.uint8, count=img.sizeInBytes()).reshape(h, stride)
    return data[:, : w * 4].reshape(h, w, 4)[..., :3].astype(np.float32)


def render_offscreen_in_worker(scene: Scene, camera, width: int, height: int, supersample: int = 1) -> np.ndarray:
    """An OffscreenRenderer frame made on a worker thread: a standalone (EGL)
    context must never be current on the GUI thread (renderer/gl/context.py)."""
    from PySide6.QtWidgets import QApplication

    from renderer.gl.offscreen import OffscreenRenderer

    out: dict[str, object] = {}

    def work() -> None:
        try:
            with OffscreenRenderer(width, height, supersample=supersample) as r:
                out["image"] = r.render(scene, camera)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the test thread
            out["error"] = exc

    worker = threading.Thread(target=work, name="offscreen-reference")
    worker.start()
    while worker.is_alive():  # keep the GUI responsive meanwhile
        QApplication.processEvents()
        worker.join(0.02)
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["image"]  # type: ignore[return-value]
