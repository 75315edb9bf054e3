"""The Export dialog: a relit render of the current view (PNG with alpha
and/or EXR) at a chosen resolution, every capture view, a turntable (image
sequence, MP4 when a video writer is installed), or the asset (scene.glb +
environment.hdr + scene.json).

The work is models.exports.run_export on a QThread; progress comes back as
queued signals and Cancel sets a threading.Event the export checks between
frames.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from models.errors import RelitError
from models.exports import ExportRequest, run_export, video_writer
from models.scene import Scene

log = logging.getLogger(__name__)

KINDS = (
    ("view", "Current view"),
    ("captures", "All capture views"),
    ("turntable", "Turntable"),
    ("asset", "Asset (scene.glb + environment.hdr + scene.json)"),
)


ANTIALIASING = ((1, "Off"), (2, "2×2 samples"), (3, "3×3 samples"), (4, "4×4 samples"))


class ExportWorker(QObject):
    """Runs one export on the thread it was moved to."""

    progress = Signal(int, int, str)
    finished = Signal(object)  # list[Path]
    failed = Signal(str)

    def __init__(self, request: ExportRequest, scene: Scene, cancel: threading.Event):
        super().__init__()
        self.request, self.scene, self.cancel = request, scene, cancel

    @Slot()
    def run(self) -> None:
        try:
            files = run_export(self.request, self.scene, self.progress.emit, self.cancel)
        except RelitError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:
            log.exception("export failed")
            self.failed.emit(f"unexpected error: {exc}")
        else:
            self.finished.emit(files)


class ExportDialog(QDialog):
    """See the module doc. `camera` gives the current view's camera;
    `capture_views` the capture's views (name + camera)."""

    exportFinished = Signal(object)  # list[Path]
    exportFailed = Signal(str)

    def __init__(self, session: Any, camera: Callable[[], Any], capture_views: Callable[[], Any],
                 up: Callable[[], Any] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export")
        self.session = session
        self.camera = camera
        self.capture_views = capture_views
        self.up = up or (lambda: (0.0, 1.0, 0.0))
        self.thread: QThread | None = None
        self.worker: ExportWorker | None = None
        self.cancel_event = threading.Event()
        self.files: list[Path] = []
        self._build()
        self._kind_changed()

    # ---- layout ---------------------------------------------------------------------
    def _build(self) -> None:
        v = QVBoxLayout(self)
        what = QGroupBox("What")
        wv = QVBoxLayout(what)
        self.kind_group = QButtonGroup(self)
        self.kind_buttons: dict[str, QRadioButton] = {}
        for i, (kind, label) in enumerate(KINDS):
            b = QRadioButton(label)
            self.kind_group.addButton(b, i)
            self.kind_buttons[kind] = b
            wv.addWidget(b)
        self.kind_buttons["view"].setChecked(True)
        self.kind_group.idToggled.connect(lambda *_: self._kind_changed())
        v.addWidget(what)

        opts = QGroupBox("Images")
        f = QFormLayout(opts)
        cam = self.camera()
        self.width_spin = QSpinBox(minimum=16, maximum=16384, value=int(getattr(cam, "width", 1920)))
        self.height_spin = QSpinBox(minimum=16, maximum=16384, value=int(getattr(cam, "height", 1080)))
        size = QWidget()
        sh = QHBoxLayout(size)
        sh.setContentsMargins(0, 0, 0, 0)
        sh.addWidget(self.width_spin)
        sh.addWidget(QLabel("×"))
        sh.addWidget(self.height_spin)
        f.addRow("Resolution", size)
        self.scale_spin = QDoubleSpinBox(minimum=0.05, maximum=8.0, value=1.0, decimals=2, singleStep=0.25, suffix="×")
        f.addRow("Capture views size", self.scale_spin)
        self.antialias_combo = QComboBox()
        for n, label in ANTIALIASING:
            self.antialias_combo.addItem(label, n)
        self.antialias_combo.setCurrentIndex(self.antialias_combo.findData(2))
        self.antialias_combo.setToolTip("Each pixel averages N×N samples: smooth edges and fine texture (N² slower)")
        f.addRow("Anti-aliasing", self.antialias_combo)
        self.png_check = QCheckBox("PNG (sRGB, with alpha)")
        self.png_check.setChecked(True)
        self.exr_check = QCheckBox("EXR (linear)")
        self.transparent_check = QCheckBox("Transparent background")
        self.transparent_check.setChecked(True)
        f.addRow(self.png_check)
        f.addRow(self.exr_check)
        f.addRow(self.transparent_check)
        self.frames_spin = QSpinBox(minimum=1, maximum=3600, value=36)
        f.addRow("Turntable frames", self.frames_spin)
        self.video_check = QCheckBox("MP4 video")
        writer, why = video_writer()
        self.video_available = writer is not None
        self.video_check.setEnabled(self.video_available)
        self.video_check.setToolTip(f"Written with {writer}" if writer else why)
        self.fps_spin = QSpinBox(minimum=1, maximum=120, value=24, suffix=" fps")
        vh = QWidget()
        vl = QHBoxLayout(vh)
        vl.setContentsMargins(0, 0, 0, 0)
        vl.addWidget(self.video_check)
        vl.addWidget(self.fps_spin)
        f.addRow(vh)
        self.options_box = opts
        v.addWidget(opts)

        where = QHBoxLayout()
        self.folder_edit = QLineEdit(str(Path.home() / "Relit exports"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        where.addWidget(QLabel("Folder"))
        where.addWidget(self.folder_edit, 1)
        where.addWidget(browse)
        v.addLayout(where)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        v.addWidget(self.progress_bar)
        v.addWidget(self.status_label)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        for b in (self.export_button, self.cancel_button, self.close_button):
            buttons.addWidget(b)
        v.addLayout(buttons)

    def kind(self) -> str:
        return KINDS[self.kind_group.checkedId()][0]

    def set_kind(self, kind: str) -> None:
        self.kind_buttons[kind].setChecked(True)

    def _kind_changed(self) -> None:
        kind = self.kind()
        images = kind != "asset"
        self.options_box.setEnabled(images)
        sized = kind in ("view", "turntable")
        self.width_spin.setEnabled(sized)
        self.height_spin.setEnabled(sized)
        self.scale_spin.setEnabled(kind == "captures")
        self.frames_spin.setEnabled(kind == "turntable")
        self.video_check.setEnabled(kind == "turntable" and self.video_available)
        self.fps_spin.setEnabled(kind == "turntable" and self.video_available)
        has_views = bool(self.capture_views())
        self.kind_buttons["captures"].setEnabled(has_views)
        self.kind_buttons["captures"].setToolTip("" if has_views else "No capture is open")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export To Folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    # ---- the job ----------------------------------------------------------------------------
    def request(self) -> ExportRequest:
        """The ExportRequest the dialog describes."""
        kind = self.kind()
        scene = self.session.scene
        if kind == "captures":
            views = list(self.capture_views())
            cameras, names = tuple(v.camera for v in views), tuple(v.name for v in views)
        else:
            cameras, names = ((self.camera(),) if kind != "asset" else ()), ()
        center = tuple(float(x) for x in scene.mesh.bounding_sphere()[0]) if scene is not None else (0.0, 0.0, 0.0)
        return ExportRequest(
            kind=kind,  # type: ignore[arg-type]
            folder=Path(self.folder_edit.text()).expanduser(),
            cameras=cameras,
            names=names,
            width=self.width_spin.value(),
            height=self.height_spin.value(),
            scale=self.scale_spin.value(),
            png=self.png_check.isChecked(),
            exr=self.exr_check.isChecked(),
            transparent=self.transparent_check.isChecked(),
            frames=self.frames_spin.value(),
            video=self.video_check.isChecked() and self.video_available,
            fps=self.fps_spin.value(),
            center=center,
            up=tuple(float(x) for x in self.up()),
            basename="turntable" if kind == "turntable" else "render",
            supersample=int(self.antialias_combo.currentData()),
        )

    @property
    def running(self) -> bool:
        return self.thread is not None

    def start(self) -> bool:
        """Start the export on a worker thread."""
        if self.running:
            return False
        scene = self.session.scene
        if scene is None:
            self.status_label.setText("Nothing to export yet: fit the capture or open a scene")
            return False
        try:
            request = self.request().validate()
        except RelitError as exc:
            self.status_label.setText(exc.problem)
            return False
        self.files = []
        self.cancel_event = threading.Event()
        self.worker = ExportWorker(request, scene, self.cancel_event)
        self.thread = QThread(self)
        self.thread.setObjectName("export")
        self.worker.moveToThread(self.thread)
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.thread.started.connect(self.worker.run)
        self.export_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress_bar.setValue(0)
        self.status_label.setText("Starting…")
        self.thread.start()
        return True

    def cancel(self) -> None:
        self.cancel_event.set()
        self.status_label.setText("Cancelling…")

    def wait(self, timeout_ms: int = 120000) -> bool:
        return self.thread is None or self.thread.wait(timeout_ms)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress_bar.setValue(int(1000 * done / max(total, 1)))
        self.status_label.setText(message)

    def _on_finished(self, files: list[Path]) -> None:
        self.files = list(files)
        self._stop()
        cancelled = self.cancel_event.is_set()
        where = self.folder_edit.text()
        self.status_label.setText(f"{'Cancelled: ' if cancelled else ''}wrote {len(files)} file(s) to {where}")
        if not cancelled:
            self.progress_bar.setValue(1000)
        self.exportFinished.emit(self.files)

    def _on_failed(self, problem: str) -> None:
        self._stop()
        self.status_label.setText(f"Export failed: {problem}")
        self.exportFailed.emit(problem)

    def _stop(self) -> None:
        if self.thread is not None:
            self.thread.quit()
            self.thread.wait()
            self.thread.deleteLater()
        if self.worker is not None:
            self.worker.deleteLater()
        self.thread = None
        self.worker = None
        self.export_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def closeEvent(self, event: Any) -> None:
        if self.running:
            self.cancel_event.set()
            self.wait()
            self._stop()
        super().closeEvent(event)
