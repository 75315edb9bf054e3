"""The editable document: the current Scene, the capture it came from, its
undo history, Save / Save As to a scene folder, and autosave to a recovery
folder so that a crash loses no edits.

Views subscribe to `sceneChanged(scene, names)`; edits go through undo
commands (app.commands) that call back `_apply`. Saves and autosaves write
immutable Scene snapshots on a worker thread (one at a time) and report back
through queued signals.

Recovery: every `autosave_interval_s` seconds, if the Scene changed since the
last autosave, it is written to `<recovery root>/<session id>/` with a
`recovery.json` that names the process, the document's own folder and its
capture. The folder is removed when the session closes normally, so any
folder whose process is gone is work a crash left behind
(`find_recoveries`). The recovery root is `$RELIT_RECOVERY_DIR`, else
QStandardPaths' AppDataLocation/recovery; tests pass their own.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QObject,
    QRunnable,
    QStandardPaths,
    QThreadPool,
    QTimer,
    Signal,
)
from PySide6.QtGui import QUndoCommand, QUndoStack

from app.commands import ALL_PARTS, FitResult, SceneEdit, ValueEdit
from models.errors import RelitError, SceneError
from models.lighting import Environment
from models.scene import Scene
from models.scene_io import load_scene, save_scene

log = logging.getLogger(__name__)

RECOVERY_ENV = "RELIT_RECOVERY_DIR"
RECOVERY_FILE = "recovery.json"
DEFAULT_AUTOSAVE_S = 30.0


def default_recovery_root() -> Path:
    """$RELIT_RECOVERY_DIR, else <AppDataLocation>/recovery."""
    if os.environ.get(RECOVERY_ENV):
        return Path(os.environ[RECOVERY_ENV]).expanduser()
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".relit") / "recovery"


@dataclass(frozen=True)
class Recovery:
    """Work left behind by a session that did not close normally."""

    folder: Path
    document: Path | None
    capture: Path | None
    updated: str
    pid: int


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def find_recoveries(root: str | Path | None = None, include_live: bool = False) -> list[Recovery]:
    """Recovery folders under `root` whose session's process is gone (all of
    them with `include_live`), newest first."""
    root = Path(root) if root is not None else default_recovery_root()
    found = []
    if not root.is_dir():
        return found
    for folder in root.iterdir():
        info_path = folder / RECOVERY_FILE
        if not info_path.is_file() or not (folder / "scene.json").is_file():
            continue
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        pid = int(info.get("pid", -1))
        if not include_live and _pid_alive(pid):
            continue
        found.append(Recovery(
            folder,
            Path(info["document"]) if info.get("document") else None,
            Path(info["capture"]) if info.get("capture") else None,
            str(info.get("updated", "")),
            pid,
        ))
    return sorted(found, key=lambda r: r.updated, reverse=True)


def discard_recovery(recovery: Recovery | Path) -> None:
    folder = recovery.folder if isinstance(recovery, Recovery) else Path(recovery)
    shutil.rmtree(folder, ignore_errors=True)


class _JobSignals(QObject):
    done = Signal(object, object)  # tag, result
    failed = Signal(object, object)  # tag, exception


class _Job(QRunnable):
    def __init__(self, tag: Any, fn):
        super().__init__()
        self.tag, self.fn, self.signals = tag, fn, _JobSignals()

    def run(self) -> None:
        try:
            result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI
            self.signals.failed.emit(self.tag, exc)
        else:
            self.signals.done.emit(self.tag, result)


class Session(QObject):
    """The document being edited. See the module docstring."""

    sceneChanged = Signal(object, object)  # Scene | None, frozenset[str] of changed value names
    documentChanged = Signal()  # a new document replaced the old one
    captureChanged = Signal(object)  # Capture | None
    dirtyChanged = Signal(bool)
    pathChanged = Signal(object)  # Path | None
    saved = Signal(object)  # Path
    saveFailed = Signal(object, str)  # Path, problem
    opened = Signal(object)  # Path
    openFailed = Signal(object, str)  # Path, problem
    autosaved = Signal(object)  # recovery folder
    fittingChanged = Signal(bool)
    previewScene = Signal(object)  # a running fit's current Scene (not the document)
    recoveredEnvironmentChanged = Signal(object)  # Environment | None

    def __init__(self, undo_stack: QUndoStack | None = None, recovery_root: str | Path | None = None,
                 autosave_interval_s: float = DEFAULT_AUTOSAVE_S, parent: QObject | None = None):
        super().__init__(parent)
        self.undo_stack = undo_stack if undo_stack is not None else QUndoStack(self)
        if self.undo_stack.parent() is None:
            self.undo_stack.setParent(self)  # dies with the session, after its connections are gone
        self.recovery_root = Path(recovery_root) if recovery_root is not None else default_recovery_root()
        self.session_id = f"{_dt.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.scene: Scene | None = None
        self.capture: Any = None
        self.capture_path: Path | None = None
        self.path: Path | None = None
        self.fitting = False
        self.recovered_environment: Environment | None = None
        self._force_dirty = False
        self._dirty = False
        self._autosaved_scene: Scene | None = None
        self._autosaving = False
        self._jobs: list[_Job] = []
        self._closed = False
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)  # saves and autosaves never overlap
        self.undo_stack.cleanChanged.connect(self._update_dirty)
        self.undo_stack.indexChanged.connect(self._update_dirty)
        self.autosave_timer = QTimer(self)
        self.autosave_timer.timeout.connect(self.autosave)
        self.set_autosave_interval(autosave_interval_s)

    # ---- state ------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        """Unsaved changes exist."""
        return self._force_dirty or not self.undo_stack.isClean()

    @property
    def recovery_folder(self) -> Path:
        return self.recovery_root / self.session_id

    def require_scene(self) -> Scene:
        if self.scene is None:
            raise RelitError(None, "there is no scene to edit yet: fit the capture or open a scene")
        return self.scene

    def _update_dirty(self, *_: Any) -> None:
        dirty = self.dirty
        if dirty != self._dirty:
            self._dirty = dirty
            self.dirtyChanged.emit(dirty)

    def set_autosave_interval(self, seconds: float) -> None:
        """Autosave period; 0 turns autosave off."""
        self.autosave_timer.stop()
        if seconds > 0:
            self.autosave_timer.start(int(seconds * 1000))

    # ---- documents --------------------------------------------------------------------
    def new_document(self, scene: Scene | None, path: str | Path | None = None, *, capture: Any = None,
                     capture_path: str | Path | None = None, dirty: bool = False) -> None:
        """Start editing `scene` (a loaded scene, a recovery): the undo history
        is cleared. A capture stays unless another is given."""
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self.scene = scene
        self.path = Path(path) if path is not None else None
        if capture is not None:
            self.capture, self.capture_path = capture, Path(capture_path) if capture_path else None
            self.captureChanged.emit(capture)
        self._force_dirty = dirty
        self._autosaved_scene = None if dirty else scene
        env = scene.lighting.environment if scene is not None else None
        self._set_recovered(env if env is not None and env.name == "recovered" else None)
        self._update_dirty()
        self.pathChanged.emit(self.path)
        self.documentChanged.emit()
        self.sceneChanged.emit(scene, ALL_PARTS)

    def set_capture(self, capture: Any, path: str | Path | None = None) -> None:
        """A newly opened capture: the document starts empty (fit it)."""
        self.new_document(None, None, capture=capture, capture_path=path)

    def _set_recovered(self, env: Environment | None) -> None:
        if env is not self.recovered_environment:
            self.recovered_environment = env
            self.recoveredEnvironmentChanged.emit(env)

    # ---- edits --------------------------------------------------------------------------
    def push(self, command: QUndoCommand) -> None:
        """Do an edit through the undo stack (it runs command.redo())."""
        self.undo_stack.push(command)

    def set_value(self, name: str, value: Any, text: str | None = None, merge: bool = True) -> None:
        """Set one named value (models.scene_params) as an undoable edit;
        repeated sets of the same name merge until `end_merge()`."""
        self.push(ValueEdit(self, name, value, text, merge))

    def end_merge(self) -> None:
        """The user let go of a control: the next edit is a new undo step."""
        top = self.undo_stack.command(self.undo_stack.index() - 1) if self.undo_stack.index() > 0 else None
        if isinstance(top, SceneEdit):
            top.seal()

    def _apply(self, scene: Scene | None, names: frozenset[str]) -> None:
        """Called by undo commands only."""
        self.scene = scene
        self.sceneChanged.emit(scene, names)

    # ---- fitting ---------------------------------------------------------------------------
    def begin_fit(self) -> None:
        self.fitting = True
        self.fittingChanged.emit(True)

    def show_fit_preview(self, scene: Scene) -> None:
        """A running fit's state for the viewport; the document is unchanged."""
        self.previewScene.emit(scene)

    def end_fit(self, fitted: Scene | None, text: str = "Fit") -> None:
        """The fit ended (finished or cancelled): its Scene becomes the
        document as an undoable step; display settings carry over."""
        self.fitting = False
        if fitted is not None:
            if self.scene is not None:
                fitted = replace(fitted, display=self.scene.display)
            self._set_recovered(fitted.lighting.environment)
            self.push(FitResult(self, fitted, text))
        self.fittingChanged.emit(False)

    # ---- saving -------------------------------------------------------------------------------
    def document_scene(self) -> Scene | None:
        """The Scene as saved: with where it came from in its metadata."""
        if self.scene is None:
            return None
        meta = dict(self.scene.metadata)
        meta["session"] = {
            "capture": str(self.capture_path) if self.capture_path else None,
            "saved": _dt.datetime.now().isoformat(timespec="seconds"),
        }
        return replace(self.scene, metadata=meta)

    def save(self, path: str | Path | None = None) -> bool:
        """Write the document to `path` (else its own folder) in the
        background; `saved` or `saveFailed` follows. False when there is
        nothing to save or nowhere to save it."""
        target = Path(path).expanduser() if path is not None else self.path
        scene = self.document_scene()
        if scene is None or target is None:
            return False
        index = self.undo_stack.index()
        self._run(("save", target, index, self.scene), lambda: save_scene(scene, target))
        return True

    def save_blocking(self, path: str | Path | None = None) -> Path:
        """Save on this thread (scripts, tests, quitting); raises RelitError."""
        target = Path(path).expanduser() if path is not None else self.path
        scene = self.document_scene()
        if scene is None or target is None:
            raise SceneError(target, "nothing to save" if scene is None else "no folder to save to")
        save_scene(scene, target)
        self._saved(target, self.undo_stack.index())
        return target

    def open(self, path: str | Path) -> None:
        """Load a scene folder in the background as the new document."""
        folder = Path(path).expanduser()
        self._run(("open", folder), lambda: load_scene(folder))

    def autosave(self) -> bool:
        """Write the Scene to the recovery folder if it changed since the last
        autosave (and no autosave is running). True when one started."""
        if self._closed or self._autosaving or self.scene is None or self.scene is self._autosaved_scene:
            return False
        scene = self.document_scene()
        folder = self.recovery_folder
        info = {
            "pid": os.getpid(),
            "document": str(self.path) if self.path else None,
            "capture": str(self.capture_path) if self.capture_path else None,
            "updated": _dt.datetime.now().isoformat(timespec="seconds"),
        }

        def write() -> Path:
            save_scene(scene, folder)
            tmp = folder / (RECOVERY_FILE + ".tmp")
            tmp.write_text(json.dumps(info, indent=2), encoding="utf-8")
            os.replace(tmp, folder / RECOVERY_FILE)
            return folder

        self._autosaving = True
        self._run(("autosave", self.scene), write)
        return True

    def restore(self, recovery: Recovery) -> None:
        """Open a crash's recovery as the document (unsaved: it is dirty and
        Save writes to the document's own folder); the recovery folder is
        removed once loaded."""
        self._run(("restore", recovery), lambda: load_scene(recovery.folder))

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until background saves are done (tests, quitting)."""
        return self.pool.waitForDone(timeout_ms)

    def close(self) -> None:
        """A normal end: stop autosaving and remove this session's recovery folder."""
        if self._closed:
            return
        self._closed = True
        self.autosave_timer.stop()
        for signal in (self.undo_stack.cleanChanged, self.undo_stack.indexChanged):
            try:
                signal.disconnect(self._update_dirty)
            except (RuntimeError, TypeError):
                pass
        self.pool.waitForDone(60000)
        discard_recovery(self.recovery_folder)

    # ---- background jobs -------------------------------------------------------------------
    def _run(self, tag: tuple, fn) -> None:
        if self.pool.activeThreadCount() == 0:
            self._jobs.clear()  # finished runnables are kept until their thread surely let go of them
        job = _Job(tag, fn)
        job.setAutoDelete(False)
        job.signals.done.connect(self._job_done)
        job.signals.failed.connect(self._job_failed)
        self._jobs.append(job)
        self.pool.start(job)

    def _job_done(self, tag: tuple, result: Any) -> None:
        kind = tag[0]
        if kind == "save":
            _, target, index, _scene = tag
            self._saved(target, index)
        elif kind == "autosave":
            self._autosaving = False
            self._autosaved_scene = tag[1]
            log.debug("autosaved to %s", result)
            self.autosaved.emit(result)
        elif kind == "open":
            self.new_document(result, tag[1])
            self.opened.emit(tag[1])
        elif kind == "restore":
            recovery: Recovery = tag[1]
            capture_path = recovery.capture
            self.new_document(result, recovery.document, dirty=True)
            self.capture_path = capture_path or self.capture_path
            discard_recovery(recovery)
            self.opened.emit(recovery.folder)

    def _job_failed(self, tag: tuple, exc: BaseException) -> None:
        kind = tag[0]
        problem = exc.problem if isinstance(exc, RelitError) else f"unexpected error: {exc}"
        if not isinstance(exc, RelitError):
            log.error("session %s failed", kind, exc_info=(type(exc), exc, exc.__traceback__))
        if kind == "autosave":
            self._autosaving = False
            log.warning("autosave failed: %s", problem)
        elif kind == "save":
            self.saveFailed.emit(tag[1], problem)
        elif kind in ("open", "restore"):
            where = tag[1] if kind == "open" else tag[1].folder
            self.openFailed.emit(where, problem)

    def _saved(self, target: Path, index: int) -> None:
        self.path = target
        if self.undo_stack.index() == index:
            self.undo_stack.setClean()
            self._force_dirty = False
        self._update_dirty()
        self.pathChanged.emit(target)
        log.info("saved session to %s", target)
        self.saved.emit(target)
