"""Garbage holding widgets is collected on the GUI thread only."""

from __future__ import annotations

import gc
import threading

from PySide6.QtWidgets import QWidget

from app import gui_gc


class _Cycle:
    """A widget kept alive only by a reference cycle."""

    def __init__(self, freed_on: list[str]):
        self.me = self
        self.widget = QWidget()
        self.widget.destroyed.connect(lambda *_: freed_on.append(threading.current_thread().name))


def test_a_worker_allocating_never_frees_widgets(qapp, qtbot) -> None:
    collector = gui_gc.install(qapp)
    assert not gc.isenabled()
    freed_on: list[str] = []
    _Cycle(freed_on)  # unreachable now, but only a collection frees it

    def allocate() -> None:  # enough to trigger generation 0 many times over
        for _ in range(50_000):
            _ = [object()]
            _ = {"x": [1]}

    worker = threading.Thread(target=allocate, name="worker")
    worker.start()
    worker.join()
    assert freed_on == []  # automatic collection is off: the worker freed nothing
    thresholds = gc.get_threshold()
    gc.set_threshold(1)  # the next check collects generation 0 .. 2 as needed
    try:
        qtbot.waitUntil(lambda: bool(freed_on), timeout=5000)
    finally:
        gc.set_threshold(*thresholds)
    assert freed_on == [threading.main_thread().name]
    collector.stop()
    assert gc.isenabled()
