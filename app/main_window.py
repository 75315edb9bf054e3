"""Relit's main window: menus, the viewport, dock panels, status bar.

The window holds no maths and does no heavy work on the GUI thread: captures
and scenes load on `self.pool` and come back as queued signals; a newer open
supersedes an older one; the compute device is looked up on a worker too.
The document (scene, its folder, undo history, dirty state, Save / Save As,
autosave) is `self.session` (app.session.Session): File ▸ Save writes
through it, so the title, the Save action and autosave always agree. Panels
arrive as docks through `add_dock`, one line each.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from PySide6.QtCore import SIGNAL, QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QDockWidget, QFileDialog, QLabel, QMainWindow, QMenu, QMessageBox, QProgressBar, QWidget,
)

from app.log_panel import LogPanel
from app.session import Session
from app.settings import Settings
from app.viewport import CHANNELS, Viewport
from models.capture import Capture, load_capture
from models.errors import RelitError
from models.hdri_library import is_hdri_file
from models.mesh import Mesh
from models.scene import Scene
from models.scene_io import SCENE_FILE, load_scene

log = logging.getLogger(__name__)

APP_TITLE = "Relit"
MAX_SNAP_ENTRIES = 300


class _JobSignals(QObject):
    done = Signal(int, object)  # job id, result
    failed = Signal(int, object)  # job id, exception


class _Job(QRunnable):
    """Runs `fn` on a pool thread and reports, tagged with its id, unless
    cancelled meanwhile (the window also drops answers to superseded jobs)."""

    def __init__(self, job_id: int, fn: Callable[[], Any], cancel: threading.Event):
        super().__init__()
        self.job_id, self.fn, self.cancel, self.signals = job_id, fn, cancel, _JobSignals()

    def run(self) -> None:
        try:
            result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - every failure is shown to the user
            if not self.cancel.is_set():
                self.signals.failed.emit(self.job_id, exc)
        else:
            if not self.cancel.is_set():
                self.signals.done.emit(self.job_id, result)


@dataclass
class _Pending:
    """A job the window waits for: what to call with its result, how to word a failure."""

    path: Path
    on_done: Callable[[Path, Any], None]
    failure_title: str
    cancel: threading.Event
    job: _Job
    is_open: bool

    @property
    def verb(self) -> str:
        return "open" if self.is_open else "save"


@dataclass(frozen=True)
class OpenedCapture:
    """What the loading worker hands the GUI: the capture plus everything
    that needed file reads (its mesh, its bounding sphere)."""

    capture: Capture
    mesh: Mesh | None
    center: np.ndarray
    radius: float


def read_capture(path: Path) -> OpenedCapture:
    """Runs on a worker thread: parse the folder, read its mesh if any."""
    capture = load_capture(path)
    center, radius = capture.bounding_sphere()
    return OpenedCapture(capture, capture.load_mesh(), np.asarray(center, np.float64), float(radius))


def scene_folder(path: Path) -> Path | None:
    """The scene folder `path` names (the folder or its scene.json), else None."""
    if path.is_dir() and (path / SCENE_FILE).is_file():
        return path
    if path.name == SCENE_FILE:
        return path.parent
    return None


def device_description() -> str:
    """'CPU' or 'CUDA: <device name>', as torch sees it (seconds the first
    time on a machine with CUDA: call it off the GUI thread)."""
    try:
        import torch

        if torch.cuda.is_available():
            return f"CUDA: {torch.cuda.get_device_name(0)}"
    except Exception:  # noqa: BLE001 - a broken torch install still leaves the CPU
        log.debug("torch device query failed", exc_info=True)
    return "CPU"


class MainWindow(QMainWindow):
    """The editor window. Signals tell panels what was opened."""

    captureLoaded = Signal(object)  # Capture
    sceneLoaded = Signal(object)  # Scene
    sceneSaved = Signal(object)  # Path of the scene folder
    loadFailed = Signal(str)
    busyChanged = Signal(bool)
    deviceFound = Signal(str)  # device_description(), once the worker has it
    environmentFileOpened = Signal(str)  # an .hdr/.exr opened or dropped: the Lighting panel loads it

    def __init__(self, settings: Settings | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.settings = settings or Settings()
        self.undo_stack = QUndoStack(self)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.capture: Capture | None = None
        self.capture_path: Path | None = None
        # The document; install_panels sets its recovery folder and autosave period.
        self.session = Session(self.undo_stack, autosave_interval_s=0, parent=self)
        self._jobs: dict[int, _Pending] = {}
        self._next_job = 0

        self.viewport = Viewport(self)
        self.setCentralWidget(self.viewport)
        self._build_menus()
        self._build_status_bar()
        self.viewport.environmentProgress.connect(self._environment_progress)
        self.session.sceneChanged.connect(self._document_changed)
        self.session.pathChanged.connect(self._document_changed)
        self.session.dirtyChanged.connect(self._document_changed)
        self.session.saved.connect(self._scene_saved)
        self.session.saveFailed.connect(
            lambda path, problem: self.show_error("Cannot Save Scene", path, problem, "save"))
        self.log_panel = LogPanel(self)
        self.log_dock = self.add_dock(self.log_panel, "Log", Qt.DockWidgetArea.BottomDockWidgetArea)
        self.resize(1280, 800)
        if (geometry := self.settings.window_geometry()) is not None:
            self.restoreGeometry(geometry)
        if (state := self.settings.window_state()) is not None:
            self.restoreState(state)
        else:
            self.resizeDocks([self.log_dock], [150], Qt.Orientation.Vertical)
        self.device: str | None = None  # device_description(), once found
        self.deviceFound.connect(self._device_found)
        self._find_device()

    # ---- the document ---------------------------------------------------------
    @property
    def scene(self) -> Scene | None:
        """The document's Scene (the session's)."""
        return self.session.scene

    @property
    def scene_path(self) -> Path | None:
        """The folder the document was opened from or saved to."""
        return self.session.path

    def _document_changed(self, *_: Any) -> None:
        scene = self.session.scene
        self.action_save_as.setEnabled(scene is not None)
        self.action_save.setEnabled(scene is not None and self.session.path is not None)
        self._update_title()

    def _update_title(self) -> None:
        folder = self.session.path or self.capture_path
        title = f"{folder.name} — {APP_TITLE}" if folder is not None else APP_TITLE
        self.setWindowTitle(f"{title} •" if self.session.dirty else title)

    # ---- docks --------------------------------------------------------------
    def add_dock(self, widget: QWidget, title: str,
                 area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea) -> QDockWidget:
        """Add a panel as a dock (tabbed with any dock already in `area`),
        listed under View ▸ Panels and remembered in the window state."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower().replace(' ', '_')}")
        dock.setWidget(widget)
        existing = [d for d in self.findChildren(QDockWidget) if d is not dock and self.dockWidgetArea(d) == area]
        self.addDockWidget(area, dock)
        if existing:
            self.tabifyDockWidget(existing[-1], dock)
        self.restoreDockWidget(dock)  # a dock added after restoreState still gets its saved place
        self.panels_menu.addAction(dock.toggleViewAction())
        return dock

    # ---- menus --------------------------------------------------------------
    def _action(self, menu: QMenu, text: str, slot: Callable | None = None, shortcut: Any = None,
                checkable: bool = False, enabled: bool = True) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcuts(shortcut if isinstance(shortcut, list) else [QKeySequence(shortcut)])
        action.setCheckable(checkable)
        action.setEnabled(enabled)
        if slot is not None:
            action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.action_open_capture = self._action(
            file_menu, "Open &Capture…", self._ask_open_capture, QKeySequence.StandardKey.Open)
        self.action_open_scene = self._action(
            file_menu, "Open &Scene…", self._ask_open_scene, "Ctrl+Shift+O")
        self.recent_menu = file_menu.addMenu("&Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        self.action_save = self._action(
            file_menu, "&Save", self.save_scene, QKeySequence.StandardKey.Save, enabled=False)
        self.action_save_as = self._action(
            file_menu, "Save &As…", self._ask_save_as, QKeySequence.StandardKey.SaveAs, enabled=False)
        self.export_menu = file_menu.addMenu("&Export")
        self._action(self.export_menu, "(renders and assets: coming)", enabled=False)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        edit_menu = bar.addMenu("&Edit")
        undo = self.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcuts([QKeySequence("Ctrl+Z")])
        redo = self.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        edit_menu.addActions([undo, redo])
        self.action_undo, self.action_redo = undo, redo

        view_menu = bar.addMenu("&View")
        self.channel_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for i, channel in enumerate(CHANNELS, 1):
            label = "AO" if channel == "ao" else channel.capitalize()
            action = self._action(view_menu, label, shortcut=str(i), checkable=True)
            action.setData(channel)
            action.setChecked(channel == self.viewport.channel)
            group.addAction(action)
            self.channel_actions[channel] = action
        group.triggered.connect(lambda a: self.viewport.set_channel(a.data()))
        view_menu.addSeparator()
        self.action_wireframe = self._action(view_menu, "&Wireframe", self.viewport.set_wireframe, checkable=True)
        self.action_grid = self._action(view_menu, "&Grid", self.viewport.set_grid, "G", checkable=True)
        self.action_grid.setChecked(self.viewport.grid)
        view_menu.addSeparator()
        self.action_frame = self._action(view_menu, "&Frame Object", self.viewport.frame_scene, "F")
        self.snap_menu = view_menu.addMenu("&Snap to Capture Camera")
        self.snap_menu.setEnabled(False)
        view_menu.addSeparator()
        self.panels_menu = view_menu.addMenu("&Panels")

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About Relit", self._about)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.settings.recent_files()
        for path in files:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        if not files:
            self.recent_menu.addAction("(none)").setEnabled(False)
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear Recent", self.settings.clear_recent).setEnabled(bool(files))

    def _fill_snap_menu(self, views: list[Any]) -> None:
        self.snap_menu.clear()
        for i, view in enumerate(views[:MAX_SNAP_ENTRIES]):
            action = self.snap_menu.addAction(f"{i}: {view.name}")
            action.triggered.connect(lambda _=False, cam=view.camera: self.viewport.snap_to_camera(cam))
        self.snap_menu.setEnabled(bool(views))

    def _about(self) -> None:
        QMessageBox.about(
            self, "About Relit",
            "<b>Relit</b><br>Relighting and material editing by inverse rendering.<br><br>"
            f"Compute device: {self.device_label.text()}<br>OpenGL: {self.viewport.gl_renderer}",
        )

    # ---- status bar ---------------------------------------------------------
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.step_label = QLabel("Idle")
        self.step_label.setObjectName("stepLabel")
        self.device_label = QLabel("…")
        self.device_label.setObjectName("deviceLabel")
        self.device_label.setToolTip("Compute device of fits (looking it up…)")
        self.busy_bar = QProgressBar()
        self.busy_bar.setObjectName("busyBar")
        self.busy_bar.setRange(0, 0)  # busy indicator
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.setMaximumHeight(14)
        self.busy_bar.hide()
        bar.addPermanentWidget(self.busy_bar)
        bar.addPermanentWidget(self.step_label)
        bar.addPermanentWidget(self.device_label)

    def _find_device(self) -> None:
        """device_description() on a worker thread (CUDA start-up takes seconds)."""
        signal = self.deviceFound

        def find() -> None:
            text = device_description()
            try:
                signal.emit(text)  # queued to the GUI thread
            except RuntimeError:  # the window is gone
                pass

        threading.Thread(target=find, name="device-query", daemon=True).start()

    def _device_found(self, text: str) -> None:
        self.device = text
        self.device_label.setText(text)
        self.device_label.setToolTip("Compute device of fits")

    def _environment_progress(self, text: str) -> None:
        """The viewport prefilters a new environment: say so, with a busy bar."""
        self.busy_bar.setVisible(bool(text))
        if text:
            self.statusBar().showMessage(text)
        elif self.statusBar().currentMessage().startswith("Preparing lighting"):
            self.statusBar().clearMessage()

    def set_progress_text(self, text: str) -> None:
        """What runs now and how long it has left (e.g. 'Fit step 120/500 · ETA 0:42')."""
        self.step_label.setText(text)

    # ---- opening ------------------------------------------------------------
    def _ask_open_capture(self) -> None:
        start = str(self.capture_path.parent) if self.capture_path else ""
        folder = QFileDialog.getExistingDirectory(self, "Open Capture Folder", start)
        if folder:
            self.open_capture(folder)

    def _ask_open_scene(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open Scene", "", f"Relit scenes ({SCENE_FILE})")
        if path:
            self.open_scene(Path(path).parent)

    def _ask_save_as(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save Scene As Folder", str(self.scene_path or ""))
        if path:
            self.save_scene(path)

    def open_path(self, path: str | Path) -> None:
        """Open whatever `path` is: a saved scene, a capture folder, or an
        HDR environment (.hdr/.exr: `environmentFileOpened`, which the
        Lighting panel loads)."""
        path = Path(path).expanduser()
        if is_hdri_file(path) and path.is_file():
            if self.receivers(SIGNAL("environmentFileOpened(QString)")) > 0:
                self.environmentFileOpened.emit(str(path))
            else:
                self.show_error("Cannot Open", path, "an environment map needs the Lighting panel")
        elif (folder := scene_folder(path)) is not None:
            self.open_scene(folder)
        elif path.is_dir() or path.name.startswith("transforms"):
            self.open_capture(path if path.is_dir() else path.parent)
        else:
            self.show_error("Cannot Open", path, "not a capture folder or a Relit scene")

    def open_capture(self, path: str | Path) -> None:
        """Load a capture folder in the background (a newer open supersedes it)."""
        path = Path(path).expanduser()
        self._start(path, lambda: read_capture(path), self._capture_loaded, "Cannot Open Capture",
                    f"Opening {path.name}…", is_open=True)

    def open_scene(self, path: str | Path) -> None:
        """Load a scene folder written by Save in the background."""
        path = Path(path).expanduser()
        self._start(path, lambda: load_scene(path), self._scene_loaded, "Cannot Open Scene",
                    f"Opening {path.name}…", is_open=True)

    def set_scene(self, scene: Scene, path: Path | None = None) -> None:
        """Show `scene` and make it the document (Save writes it to `path`)."""
        vp = self.viewport
        vp.set_world_up((0.0, 1.0, 0.0))  # scenes are glTF: +Y up
        vp.set_mesh(scene.mesh)
        vp.set_material(scene.material)
        vp.set_environment(scene.lighting.environment)
        vp.set_lights(scene.lighting.lights)
        vp.set_display(scene.display)
        vp.frame_scene()
        self.session.new_document(scene, path)

    def save_scene(self, path: str | Path | None = None) -> None:
        """File ▸ Save (Save As with `path`): the session writes the document
        in the background; `sceneSaved` or an error box follows."""
        if self.session.scene is None:
            return
        target = Path(path).expanduser() if path else self.session.path
        if target is None:
            return self._ask_save_as()
        if self.session.save(target):
            self.statusBar().showMessage(f"Saving {target.name}…")

    # ---- background jobs ------------------------------------------------------
    def _start(self, path: Path, fn: Callable[[], Any], on_done: Callable[[Path, Any], None],
               failure_title: str, message: str, is_open: bool) -> None:
        if is_open:  # the newest open wins: older ones are cancelled and their answers dropped
            for job_id in [j for j, p in self._jobs.items() if p.is_open]:
                self._jobs.pop(job_id).cancel.set()
        self._next_job += 1
        cancel = threading.Event()
        job = _Job(self._next_job, fn, cancel)
        # Bound methods of this window: Qt queues the calls onto the GUI thread.
        job.signals.done.connect(self._job_done)
        job.signals.failed.connect(self._job_failed)
        self._jobs[self._next_job] = _Pending(path, on_done, failure_title, cancel, job, is_open)
        log.info("%s", message.rstrip("…"))
        self.statusBar().showMessage(message)
        self.set_progress_text(message)
        self.busyChanged.emit(True)
        self.pool.start(job)

    def _finish(self, job_id: int) -> _Pending | None:
        pending = self._jobs.pop(job_id, None)
        if not self._jobs:
            self.set_progress_text("Idle")
            self.busyChanged.emit(False)
        return pending

    def _job_done(self, job_id: int, result: Any) -> None:
        if (pending := self._finish(job_id)) is not None:
            pending.on_done(pending.path, result)

    def _job_failed(self, job_id: int, exc: BaseException) -> None:
        if (pending := self._finish(job_id)) is None:
            return
        if isinstance(exc, RelitError):
            self.show_error(pending.failure_title, exc.path or pending.path, exc.problem, pending.verb)
        else:
            log.error("unexpected error with %s", pending.path, exc_info=(type(exc), exc, exc.__traceback__))
            self.show_error(pending.failure_title, pending.path, f"unexpected error: {exc}", pending.verb)
        self.loadFailed.emit(str(exc))

    def _capture_loaded(self, path: Path, opened: OpenedCapture) -> None:
        capture = opened.capture
        self.capture, self.capture_path = capture, path
        self.settings.add_recent(path)
        self.viewport.set_world_up(capture.up)
        self.viewport.set_mesh(opened.mesh)
        self.viewport.set_scene_bounds(opened.center, opened.radius)
        self.viewport.frame_scene()
        self._fill_snap_menu(list(capture.views))
        self._update_title()
        self.statusBar().showMessage(f"Opened {path.name}: {len(capture.views)} views", 5000)
        log.info("opened capture %s: %d views (%s)", path, len(capture.views), capture.layout)
        self.captureLoaded.emit(capture)

    def _scene_loaded(self, path: Path, scene: Scene) -> None:
        self.settings.add_recent(path)
        self.set_scene(scene, path)
        self.statusBar().showMessage(f"Opened scene {path.name}", 5000)
        log.info("opened scene %s", path)
        self.sceneLoaded.emit(scene)

    def _scene_saved(self, path: Path) -> None:
        """The session wrote the document to `path` (Save, Save As)."""
        self.settings.add_recent(path)
        self._document_changed()
        self.statusBar().showMessage(f"Saved {path}", 5000)
        log.info("saved scene %s", path)
        self.sceneSaved.emit(path)

    def show_error(self, title: str, path: str | Path | None, problem: str, verb: str = "open") -> QMessageBox:
        """A non-blocking error box naming the file and the problem."""
        log.error("%s: %s", path, problem)
        box = QMessageBox(QMessageBox.Icon.Critical, title,
                          f"Could not {verb} {path}" if path is not None else title,
                          QMessageBox.StandardButton.Ok, self)
        box.setInformativeText(problem)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.statusBar().showMessage(problem, 8000)
        return box

    # ---- drag and drop, closing -------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        """A folder or scene opens; an .hdr/.exr becomes the environment (open_path)."""
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()
            self.open_path(urls[0].toLocalFile())

    def closeEvent(self, event: QCloseEvent) -> None:
        for pending in self._jobs.values():
            pending.cancel.set()
        self.viewport.prefilter.shutdown()
        self.viewport.visibility_baker.shutdown()
        self.session.close()
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.log_panel.detach()
        super().closeEvent(event)
