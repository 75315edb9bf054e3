"""Start the GUI: Qt application, OpenGL surface format, main window.

`RELIT_SCREENSHOT=path.png` makes the run save a screenshot of the window
once it is shown and the initial capture has loaded (or failed), then quit:
for docs, CI, and checking the GUI on a machine with no one watching.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, QTimer
from PySide6.QtGui import QSurfaceFormat
from PySide6.QtWidgets import QApplication

from app import gui_gc

from app.settings import APPLICATION, ORGANIZATION

log = logging.getLogger(__name__)

SAMPLE_CAPTURE = Path(__file__).resolve().parents[1] / "resources" / "sample_capture"
SCREENSHOT_ENV = "RELIT_SCREENSHOT"
SCREENSHOT_TIMEOUT_MS = 60_000
SCREENSHOT_SETTLE_MS = 500


def configure_opengl() -> None:
    """Default surface format (OpenGL 3.3 core, 24-bit depth, 4x MSAA) and
    shared contexts; must run before the QApplication exists to apply."""
    fmt = QSurfaceFormat()
    fmt.setRenderableType(QSurfaceFormat.RenderableType.OpenGL)
    fmt.setVersion(3, 3)
    fmt.setProfile(QSurfaceFormat.OpenGLContextProfile.CoreProfile)
    fmt.setDepthBufferSize(24)
    fmt.setStencilBufferSize(8)
    fmt.setSamples(4)  # drivers without MSAA fall back to a single sample
    QSurfaceFormat.setDefaultFormat(fmt)
    # Docks re-parent widgets; shared contexts keep the viewport's GL objects alive.
    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)


def build_window(settings=None, **panel_options):  # noqa: ANN001, ANN201 - Settings -> MainWindow
    """The whole application window: the main window frame with every panel
    (fit, lighting, material, loss plot, export) installed; `window.panels`
    holds them. Tests build the same window users get."""
    from app.main_window import MainWindow
    from app.panels import install_panels

    window = MainWindow(settings)
    window.panels = install_panels(window, **panel_options)
    return window


def run_gui(argv: list[str]) -> int:
    """Open the main window on argv[0] (a capture folder or scene) or, with no
    argument, on the bundled sample capture when it exists. Returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    configure_opengl()
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "relit", *argv])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APPLICATION)
    gui_gc.install(app)  # widgets must never be freed by a worker thread's garbage collection
    args = [a for a in app.arguments()[1:] if a in argv]  # Qt removes its own options

    window = build_window()
    window.show()
    path = Path(args[0]) if args else SAMPLE_CAPTURE if SAMPLE_CAPTURE.is_dir() else None
    screenshot = os.environ.get(SCREENSHOT_ENV)
    if screenshot:
        _screenshot_then_quit(window, Path(screenshot), waiting=path is not None and path.is_dir())
    if path is not None:
        window.open_path(path)
    return app.exec()


def _screenshot_then_quit(window, path: Path, waiting: bool) -> None:  # noqa: ANN001 - MainWindow
    """Grab the window once loading settles (or times out), save it, quit."""
    app = QApplication.instance()
    done = {"shot": False}

    def shoot() -> None:
        if done["shot"]:
            return
        done["shot"] = True
        path.parent.mkdir(parents=True, exist_ok=True)
        window.viewport.grab_image()  # a refined frame, not the interactive preview
        ok = window.grab().save(str(path))
        log.info("screenshot %s %s", "saved to" if ok else "FAILED for", path)
        app.exit(0 if ok else 1)

    def settle() -> None:
        QTimer.singleShot(SCREENSHOT_SETTLE_MS, window, shoot)

    if waiting:
        window.captureLoaded.connect(settle)
        window.loadFailed.connect(settle)
        QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, window, shoot)
    else:
        settle()
