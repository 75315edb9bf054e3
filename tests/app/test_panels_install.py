"""install_panels joins the panels to the main window: docks, File ▸ Export,
the window's Open/Save following the session, recovery offered at start."""
# ruff: noqa: F811 - the fixtures imported from panels_support are test arguments

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QApplication, QDockWidget, QMessageBox

from app.panels import install_panels
from app.session import RECOVERY_FILE
from models import scene_params as sp
from models.scene_io import save_scene
from tests.app.panels_support import panels, shoot, two_tone_scene  # noqa: F401 - fixture


def test_docks_menus_and_window_state(panels, qtbot, artifacts: Path) -> None:
    window = panels.sync.window
    titles = sorted(d.windowTitle() for d in window.findChildren(QDockWidget))
    assert titles == ["Fit", "Lighting", "Log", "Loss", "Material"]
    assert all(d.isVisible() or d.isHidden() is False for d in panels.docks.values())
    assert [a.text() for a in window.export_menu.actions()] == ["Export…"]
    assert not panels.export_action.isEnabled()  # nothing to export yet
    assert {"Fit", "Lighting", "Material", "Loss"} <= {a.text() for a in window.panels_menu.actions()}
    shoot(window, artifacts, "panels_installed")


def test_window_open_and_save_go_through_the_session(panels, qtbot, tmp_path: Path) -> None:
    window, session = panels.sync.window, panels.session
    folder = tmp_path / "scene"
    save_scene(two_tone_scene(), folder)
    with qtbot.waitSignal(window.sceneLoaded, timeout=30000):
        window.open_scene(folder)
    assert session.scene is window.scene and session.path == folder and not session.dirty
    assert panels.export_action.isEnabled() and window.action_save.isEnabled()
    session.set_value(sp.ENV_ROTATION, 60.0)
    assert session.dirty and window.scene is session.scene and window.windowTitle().endswith("•")
    with qtbot.waitSignal(window.sceneSaved, timeout=30000):
        window.action_save.trigger()  # the window's own Save writes the edited scene
    assert not session.dirty and not window.windowTitle().endswith("•")
    from models.scene_io import load_scene

    assert load_scene(folder).lighting.environment.rotation_deg == 60.0
    # Save As goes the same way: the session's folder, title and Save follow; autosave sees a clean document.
    assert window.session is session
    session.set_value(sp.ENV_ROTATION, 30.0)
    with qtbot.waitSignal(window.sceneSaved, timeout=30000):
        window.save_scene(tmp_path / "copy")
    assert session.path == tmp_path / "copy" == window.scene_path and not session.dirty
    assert window.windowTitle() == "copy — Relit" and window.action_save.isEnabled()
    assert load_scene(tmp_path / "copy").lighting.environment.rotation_deg == 30.0
    assert load_scene(tmp_path / "copy").metadata["session"]["saved"]  # the session's document, with provenance
    assert str((tmp_path / "copy").resolve()) == window.settings.recent_files()[0]


def test_recovery_is_offered_at_start(main_window, qtbot, tmp_path: Path) -> None:
    root = tmp_path / "recovery"
    left = root / "crashed"
    save_scene(two_tone_scene(), left)
    (left / RECOVERY_FILE).write_text(json.dumps({"pid": 2**22 + 4321, "document": str(tmp_path / "doc"),
                                                  "capture": None, "updated": "2026-01-01T10:00:00"}))
    installed = install_panels(main_window, recovery_root=root, autosave_interval_s=0)
    box = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible())
    assert "did not close normally" in box.text() and str(tmp_path / "doc") in box.text()
    with qtbot.waitSignal(installed.session.opened, timeout=30000):
        box.button(QMessageBox.StandardButton.Yes).click()
    assert installed.session.scene is not None and installed.session.dirty
    assert installed.session.path == tmp_path / "doc" and not left.exists()
    installed.sync.shutdown()
