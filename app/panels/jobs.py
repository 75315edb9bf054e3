"""Background work for panels: functions run one at a time on a worker
thread; results and failures come back on the GUI thread as queued signals,
tagged so the panel knows what they answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class _Signals(QObject):
    done = Signal(object, object)
    failed = Signal(object, object)


class _Task(QRunnable):
    def __init__(self, tag: Any, fn: Callable[[], Any]):
        super().__init__()
        self.tag, self.fn, self.signals = tag, fn, _Signals()

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:  # noqa: BLE001 - handed to the panel
            self.signals.failed.emit(self.tag, exc)
        else:
            self.signals.done.emit(self.tag, result)


class BackgroundJobs(QObject):
    """`start(tag, fn)`; then `done(tag, result)` or `failed(tag, exception)`."""

    done = Signal(object, object)
    failed = Signal(object, object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._tasks: list[_Task] = []

    def start(self, tag: Any, fn: Callable[[], Any]) -> None:
        if self.pool.activeThreadCount() == 0:
            self._tasks.clear()  # finished runnables are kept until their thread surely let go of them
        task = _Task(tag, fn)
        task.setAutoDelete(False)
        task.signals.done.connect(self._done)
        task.signals.failed.connect(self._failed)
        self._tasks.append(task)
        self.pool.start(task)

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until every job is done (tests, closing)."""
        return self.pool.waitForDone(timeout_ms)

    def _done(self, tag: Any, result: Any) -> None:
        self.done.emit(tag, result)

    def _failed(self, tag: Any, exc: Any) -> None:
        self.failed.emit(tag, exc)
