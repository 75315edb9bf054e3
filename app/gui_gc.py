"""Python's cyclic garbage collection, run only on the GUI thread.

Why: the collector runs in whichever thread happens to allocate when a
generation fills up. When that is a worker (an HDRI prefilter, an export,
a fit) and the garbage holds Qt widgets, the worker destroys them: it takes
Qt's connection lock in ~QObject and then waits for the GIL, while the GUI
thread holds the GIL and waits for that lock. The test suite hung exactly so
(a closed window's QMenu freed on a QThreadPool thread). Automatic
collection is therefore switched off and a timer on the GUI thread collects
instead, with the same generation thresholds. Reference counting still
frees everything that is not in a cycle at once, on any thread.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 200
"""How often the GUI thread checks the collector's counts."""


class GuiThreadCollector(QObject):
    """Owns the timer; create it once, on the GUI thread, and keep it."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS):
        super().__init__(parent)
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)

    def start(self) -> None:
        """Switch automatic collection off; the timer collects from now on."""
        gc.disable()
        self.timer.start()

    def check(self) -> None:
        """Collect the generations whose allocation counts passed their thresholds."""
        thresholds = gc.get_threshold()
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > thresholds[generation]:
                gc.collect(generation)
                return

    def stop(self) -> None:
        """Give collection back to Python (e.g. at exit)."""
        self.timer.stop()
        gc.enable()


def install(app: QObject) -> GuiThreadCollector:
    """The collector parented to `app` (the QApplication; made once), started."""
    collector = app.findChild(GuiThreadCollector) or GuiThreadCollector(app)
    collector.start()
    return collector
