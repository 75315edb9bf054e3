"""GUI test set-up: OpenGL format before the QApplication, settings kept in a
temporary folder (never the user's), and the main window as a fixture."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import QSettings

from app.gui import configure_opengl

if TYPE_CHECKING:
    from app.main_window import MainWindow

# Runs at collection, before pytest-qt creates the QApplication.
configure_opengl()


@pytest.fixture(autouse=True, scope="session")
def _private_qsettings(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Redirect every default QSettings location so no test touches the user's."""
    root = str(tmp_path_factory.mktemp("qsettings"))
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, root)


@pytest.fixture(autouse=True)
def _collect_on_the_gui_thread(qapp):
    """As the app does (app/gui_gc.py): garbage holding widgets is freed on
    the GUI thread, never by a worker that happens to trigger the collector;
    and what a test leaves behind is collected before the next one starts."""
    from app import gui_gc

    collector = gui_gc.install(qapp)
    yield
    gc.collect()
    collector.stop()  # the non-GUI tests keep Python's own collection


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    return tmp_path / "relit.ini"


@pytest.fixture
def main_window(qtbot, settings_file: Path) -> Iterator[MainWindow]:
    """A shown MainWindow with its own temporary settings."""
    from app.main_window import MainWindow
    from app.settings import Settings

    window = MainWindow(Settings.at(settings_file))
    qtbot.addWidget(window)
    window.resize(1000, 700)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.viewport.frames_rendered > 0, timeout=5000)
    yield window
    window.close()
