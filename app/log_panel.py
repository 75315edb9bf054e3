"""The Log dock: Python `logging` records shown in the window, from any thread.

Records arrive through a Qt signal so a worker thread's log line is appended
on the GUI thread; the handler detaches itself when the panel goes away.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit, QWidget

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class _Bridge(QObject):
    record = Signal(str)


class QtLogHandler(logging.Handler):
    """A logging handler that forwards formatted records as a Qt signal."""

    def __init__(self, level: int = logging.INFO):
        super().__init__(level)
        self.bridge = _Bridge()
        self.setFormatter(logging.Formatter(FORMAT, "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.bridge.record.emit(self.format(record))
        except RuntimeError:  # the panel (and its bridge) were already deleted
            pass
        except Exception:
            self.handleError(record)


class LogPanel(QPlainTextEdit):
    """Read-only view of log records of `logger` (the root logger by default).

    The panel shows what passes the logger's own level; run_gui sets INFO.
    """

    def __init__(self, parent: QWidget | None = None, logger: logging.Logger | None = None,
                 level: int = logging.INFO, max_lines: int = 5000):
        super().__init__(parent)
        self.setObjectName("logPanel")
        self.setReadOnly(True)
        self.setMaximumBlockCount(max_lines)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self._logger = logger or logging.getLogger()
        self.handler = QtLogHandler(level)
        self.handler.bridge.record.connect(self.appendPlainText)
        self._logger.addHandler(self.handler)
        logger_, handler = self._logger, self.handler
        self.destroyed.connect(lambda *_: logger_.removeHandler(handler))

    def detach(self) -> None:
        """Stop receiving records (idempotent; runs when the panel is destroyed)."""
        self._logger.removeHandler(self.handler)

    def text(self) -> str:
        return self.toPlainText()
