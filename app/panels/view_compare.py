"""Per-photo diagnostics: a table of how well the fit explains each photo
(worst first, outliers marked) and a compare view that shows a capture photo
beside, or split with, the render from the same camera.

Renders and scores run on one worker thread (torch reference renderer, built
once per Scene); results come back as queued signals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.panels.jobs import BackgroundJobs
from models.scene import Scene
from models.view_errors import (
    ViewError,
    display_pair,
    outliers,
    score_views,
    torch_render,
    worst_first,
)

RERENDER_DELAY_MS = 400


@dataclass(frozen=True)
class LoadedView:
    """A photo with its camera (what scoring and comparing need)."""

    name: str
    camera: Any
    image: np.ndarray
    mask: np.ndarray | None


def load_view(view: Any) -> LoadedView:
    """A FitView (decoded) or a capture View (decoded here)."""
    if hasattr(view, "image") and isinstance(view.image, np.ndarray):
        return LoadedView(view.name, view.camera, view.image, view.mask)
    image, mask = view.load()
    return LoadedView(view.name, view.camera, image, mask)


class RenderService(QObject):
    """Renders and scores on one worker thread."""

    rendered = Signal(int, object, object, object)  # view index, Scene, LoadedView, linear RGBA
    scored = Signal(object, object)  # Scene, tuple[ViewError]
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.jobs = BackgroundJobs(self)
        self.jobs.done.connect(self._done)
        self.jobs.failed.connect(self._failed)
        self._cache: tuple[Scene, Any] | None = None  # touched on the worker thread only

    def _renderer(self, scene: Scene):
        if self._cache is None or self._cache[0] is not scene:
            self._cache = (scene, torch_render(scene))
        return self._cache[1]

    def render_view(self, scene: Scene | None, index: int, view: Any) -> None:
        """Decode the photo and render it (no render when `scene` is None)."""

        def job():
            loaded = load_view(view)
            return loaded, None if scene is None else self._renderer(scene)(loaded.camera)

        self._start(("render", index, scene), job)

    def score(self, scene: Scene, views: tuple[Any, ...]) -> None:
        def job():
            loaded = [load_view(v) for v in views]
            return tuple(score_views(scene, loaded, render=self._renderer(scene)))

        self._start(("score", scene), job)

    def wait(self, timeout_ms: int = 60000) -> bool:
        return self.jobs.wait(timeout_ms)

    def _start(self, tag: tuple, fn) -> None:
        self.jobs.start(tag, fn)

    def _done(self, tag: tuple, result: Any) -> None:
        if tag[0] == "render":
            loaded, image = result
            self.rendered.emit(tag[1], tag[2], loaded, image)
        else:
            self.scored.emit(tag[1], result)

    def _failed(self, tag: tuple, exc: Exception) -> None:
        self.failed.emit(f"{tag[0]} failed: {exc}")


class ViewErrorTable(QTableWidget):
    """Photos by fit error, worst first; outliers (3 dB or more below the
    median) are highlighted."""

    viewSelected = Signal(int)  # index into the views

    COLUMNS = ("Photo", "PSNR (dB)", "MAE", "Pixels")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, len(self.COLUMNS), parent)
        self.setObjectName("viewErrorTable")
        self.setHorizontalHeaderLabels(self.COLUMNS)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.errors: list[ViewError] = []
        self.flagged: set[int] = set()
        self.itemSelectionChanged.connect(self._selected)

    def set_errors(self, errors: tuple[ViewError, ...] | list[ViewError]) -> None:
        self.errors = worst_first(errors)
        self.flagged = outliers(errors)
        self.blockSignals(True)
        self.setRowCount(len(self.errors))
        for row, e in enumerate(self.errors):
            cells = (e.name, f"{e.psnr:.2f}" if math.isfinite(e.psnr) else "–",
                     f"{e.mae:.4f}" if math.isfinite(e.mae) else "–", str(e.pixels))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, e.index)
                if e.index in self.flagged:
                    item.setBackground(QColor(120, 40, 40))
                    item.setToolTip("Fits much worse than the other photos: check its pose, mask or lighting")
                self.setItem(row, col, item)
        self.blockSignals(False)

    def worst(self) -> ViewError | None:
        return self.errors[0] if self.errors else None

    def _selected(self) -> None:
        rows = self.selectionModel().selectedRows()
        if rows:
            self.viewSelected.emit(int(self.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)))


def _qimage(rgb8: np.ndarray) -> QImage:
    a = np.ascontiguousarray(rgb8)
    h, w = a.shape[:2]
    return QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class CompareView(QWidget):
    """A photo and a render of the same camera: side by side, or split at a
    movable line (photo left, render right)."""

    MODES = ("side", "split")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("compareView")
        self.setMinimumSize(200, 120)
        self.mode = "side"
        self.split = 0.5
        self.photo: QImage | None = None
        self.render: QImage | None = None
        self.caption = ""

    def set_images(self, photo8: np.ndarray | None, render8: np.ndarray | None, caption: str = "") -> None:
        self.photo = None if photo8 is None else _qimage(photo8)
        self.render = None if render8 is None else _qimage(render8)
        self.caption = caption
        self.update()

    def set_mode(self, mode: str) -> None:
        if mode not in self.MODES:
            raise ValueError(f"unknown compare mode {mode!r}")
        self.mode = mode
        self.update()

    def set_split(self, fraction: float) -> None:
        self.split = min(max(float(fraction), 0.0), 1.0)
        self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(30, 30, 32))
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.setPen(QColor(220, 220, 220))
        area = self.rect().adjusted(4, 4, -4, -20)
        if self.photo is None:
            p.drawText(area, Qt.AlignmentFlag.AlignCenter, "Select a photo in the table")
        elif self.mode == "side":
            half = QRect(area.x(), area.y(), area.width() // 2 - 2, area.height())
            self._draw(p, self.photo, half, "photo")
            right = half.translated(half.width() + 4, 0)
            if self.render is not None:
                self._draw(p, self.render, right, "render")
            else:
                p.drawText(right, Qt.AlignmentFlag.AlignCenter, "rendering…")
        else:
            box = self._fit(self.photo, area)
            p.drawImage(box, self.photo)
            if self.render is not None:
                x = box.x() + round(self.split * box.width())
                p.save()
                p.setClipRect(QRect(x, box.y(), box.right() - x + 1, box.height()))
                p.drawImage(box, self.render)
                p.restore()
                p.setPen(QPen(QColor(255, 210, 60), 2))
                p.drawLine(x, box.y(), x, box.bottom())
                p.setPen(QColor(220, 220, 220))
            p.drawText(box.adjusted(4, 2, 0, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, "photo")
            p.drawText(box.adjusted(0, 2, -4, 0), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
                       "render" if self.render is not None else "rendering…")
        p.drawText(self.rect().adjusted(6, 0, -6, -3), Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft, self.caption)
        p.end()

    @staticmethod
    def _fit(image: QImage, area: QRect) -> QRect:
        s = min(area.width() / max(image.width(), 1), area.height() / max(image.height(), 1))
        w, h = int(image.width() * s), int(image.height() * s)
        return QRect(area.x() + (area.width() - w) // 2, area.y() + (area.height() - h) // 2, w, h)

    def _draw(self, p: QPainter, image: QImage, area: QRect, label: str) -> None:
        box = self._fit(image, area)
        p.drawImage(box, image)
        p.drawText(box.adjusted(4, 2, 0, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, label)


class ComparePanel(QWidget):
    """The Photos tab: score button, table, compare view and its controls."""

    def __init__(self, session: Any, service: RenderService | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("comparePanel")
        self.session = session
        self.service = service or RenderService(self)
        self.views: tuple[Any, ...] = ()
        self.current: int | None = None
        self._photo: LoadedView | None = None

        self.score_button = QPushButton("Score photos")
        self.score_button.setToolTip("Render every photo's camera and measure how well the scene explains it")
        self.score_button.clicked.connect(self.score)
        self.summary = QLabel("No scores yet")
        self.summary.setWordWrap(True)
        self.table = ViewErrorTable()
        self.table.viewSelected.connect(self.select_view)
        self.view = CompareView()
        self.mode_combo = QComboBox()
        self.mode_combo.addItem("Side by side", "side")
        self.mode_combo.addItem("Split", "split")
        self.mode_combo.currentIndexChanged.connect(lambda _: self._mode_changed())
        self.split_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=1000, value=500)
        self.split_slider.valueChanged.connect(lambda v: self.view.set_split(v / 1000))
        self.split_slider.setEnabled(False)

        top = QHBoxLayout()
        top.addWidget(self.score_button)
        top.addWidget(self.summary, 1)
        controls = QHBoxLayout()
        controls.addWidget(self.mode_combo)
        controls.addWidget(self.split_slider, 1)
        lower = QWidget()
        lv = QVBoxLayout(lower)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addLayout(controls)
        lv.addWidget(self.view, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(lower)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

        self._rerender = QTimer(self, singleShot=True, interval=RERENDER_DELAY_MS)
        self._rerender.timeout.connect(self._request_render)
        self.service.rendered.connect(self._on_rendered)
        self.service.scored.connect(self._on_scored)
        self.service.failed.connect(self.summary.setText)
        session.sceneChanged.connect(self._scene_changed)
        session.captureChanged.connect(self._capture_changed)
        self._update_enabled()

    # ---- inputs ----------------------------------------------------------------------------
    def set_views(self, views: tuple[Any, ...] | list[Any]) -> None:
        """The photos to score and compare (FitViews, or capture Views)."""
        self.views = tuple(views)
        self.current = None
        self._photo = None
        self.table.set_errors([])
        self.view.set_images(None, None)
        self.summary.setText(f"{len(self.views)} photos · not scored yet" if self.views else "No photos")
        self._update_enabled()

    def set_errors(self, errors: tuple[ViewError, ...]) -> None:
        self.table.set_errors(errors)
        worst = self.table.worst()
        flagged = len(self.table.flagged)
        if worst is not None:
            self.summary.setText(
                f"Worst: {worst.name} ({worst.psnr:.1f} dB)"
                + (f" · {flagged} photo{'s' if flagged != 1 else ''} fit much worse than the rest" if flagged else "")
            )

    def _capture_changed(self, capture: Any) -> None:
        self.set_views(tuple(capture.views) if capture is not None else ())

    def _update_enabled(self) -> None:
        self.score_button.setEnabled(bool(self.views) and self.session.scene is not None)

    # ---- actions ---------------------------------------------------------------------------
    def score(self) -> None:
        if self.session.scene is None or not self.views:
            return
        self.summary.setText(f"Scoring {len(self.views)} photos…")
        self.service.score(self.session.scene, self.views)

    def select_view(self, index: int) -> None:
        """Show photo `index` and (when there is a scene) its render."""
        if not 0 <= index < len(self.views):
            return
        self.current = index
        self._photo = None
        self.view.set_images(None, None, f"{self.views[index].name} · loading…")
        self._request_render()

    def _request_render(self) -> None:
        if self.current is None:
            return
        self.service.render_view(self.session.scene, self.current, self.views[self.current])

    def _on_rendered(self, index: int, scene: Scene | None, loaded: LoadedView, image: np.ndarray | None) -> None:
        if index != self.current:
            return
        if image is None:
            photo8, _ = display_pair(np.zeros((*loaded.image.shape[:2], 4), np.float32), loaded.image, loaded.mask)
            self.view.set_images(photo8, None, f"{loaded.name} (no scene to render yet)")
            return
        photo8, render8 = display_pair(image, loaded.image, loaded.mask)
        error = next((e for e in self.table.errors if e.index == index), None)
        stale = "" if scene is self.session.scene else " (updating…)"
        note = f" · {error.psnr:.1f} dB" if error is not None and math.isfinite(error.psnr) else ""
        self.view.set_images(photo8, render8, f"{loaded.name}{note}{stale}")

    def _on_scored(self, scene: Scene, errors: tuple[ViewError, ...]) -> None:
        self.set_errors(errors)
        if self.current is None and self.table.worst() is not None:
            self.table.selectRow(0)

    def _scene_changed(self, *_: object) -> None:
        self._update_enabled()
        if self.current is not None:
            self._rerender.start()

    def _mode_changed(self) -> None:
        mode = self.mode_combo.currentData()
        self.view.set_mode(mode)
        self.split_slider.setEnabled(mode == "split")
