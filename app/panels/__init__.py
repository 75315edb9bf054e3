"""Relit's editing panels and how they join the main window.

    panels = install_panels(window)

adds the Fit, Lighting, Material and Loss docks, File ▸ Export…, the
viewport mouse tools, and joins them to the window's document
(`window.session`, also `panels.session`), which keeps the window's scene,
the viewport and the undo stack in step and which File ▸ Save writes.

What it uses of the window (public attributes only):
    window.add_dock(widget, title, area) -> QDockWidget
    window.undo_stack                     QUndoStack (Edit ▸ Undo/Redo)
    window.session                        app.session.Session: the document (Save, title, dirty state)
    window.viewport                       Viewport: set_mesh, set_material, set_environment,
                                          set_lights, set_display, set_channel, camera(),
                                          devicePixelRatioF(), cameraChanged, world_up via navigator.up
    window.settings.qsettings             QSettings (HDRI folders)
    window.export_menu                    QMenu (File ▸ Export)
    window.channel_actions                dict[str, QAction] (View ▸ channel), kept in step
    window.set_progress_text(str)         status-bar step/ETA text
    window.show_error(title, path, problem)
    window.captureLoaded / sceneLoaded signals
    window.environmentFileOpened signal   an .hdr/.exr opened or dropped on the window
    window.deviceFound signal             the compute device, once known (enables CUDA in the Fit panel)
    window.capture, window.capture_path, window.statusBar()
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMessageBox

from app.fit_worker import FitRunner
from app.panels.export_dialog import ExportDialog
from app.panels.fit_panel import FitPanel
from app.panels.lighting_panel import LightingPanel
from app.panels.loss_plot import LossPanel
from app.panels.material_panel import MaterialPanel
from app.panels.view_compare import ComparePanel
from app.panels.viewport_tools import ViewportTools
from app.session import Session, find_recoveries
from models import scene_params as sp

log = logging.getLogger(__name__)

__all__ = ["Panels", "install_panels"]


@dataclass
class Panels:
    """Everything install_panels added (tests and the window reach panels here)."""

    session: Session
    runner: FitRunner
    fit: FitPanel
    lighting: LightingPanel
    material: MaterialPanel
    loss: LossPanel
    compare: ComparePanel
    tools: ViewportTools
    export_action: QAction
    docks: dict[str, QDockWidget] = field(default_factory=dict)
    sync: Any = None
    export_dialog: ExportDialog | None = None

    def open_export_dialog(self) -> ExportDialog:
        return self.sync.open_export_dialog()


class _WindowSync(QObject):
    """Keeps the window, viewport and session in step (GUI thread only)."""

    def __init__(self, window: Any, panels: Panels):
        super().__init__(window)
        self.window = window
        self.panels = panels
        self.session = panels.session
        self.shown_mesh: Any = None
        self.capture_mesh: Any = None
        window.installEventFilter(self)

    # ---- session -> viewport ---------------------------------------------------------------
    def scene_changed(self, scene: Any, names: frozenset[str]) -> None:
        self.show(scene, {sp.part_of(n) for n in names})

    def preview(self, scene: Any) -> None:
        """A running fit's state: material, recovered light (and the fitted mesh once)."""
        self.show(scene, {"mesh", "material", "environment"})

    def show(self, scene: Any, parts: set[str]) -> None:
        vp = self.window.viewport
        if scene is None:
            vp.set_material(None)
            vp.set_lights(())
            if self.capture_mesh is not None and self.shown_mesh is not self.capture_mesh:
                vp.set_mesh(self.capture_mesh)
                self.shown_mesh = self.capture_mesh
            return
        if "mesh" in parts and scene.mesh is not self.shown_mesh:
            old_center, old_radius = np.asarray(vp.scene_center, np.float64), float(vp.scene_radius)
            vp.set_mesh(scene.mesh)
            self.shown_mesh = scene.mesh
            center, radius = scene.mesh.bounding_sphere()
            if np.linalg.norm(center - old_center) > 0.05 * radius or abs(radius - old_radius) > 0.05 * radius:
                vp.frame_scene()  # another object: show it whole (the same one keeps the user's view)
        if "material" in parts:
            vp.set_material(scene.material)
        if "environment" in parts:
            vp.set_environment(scene.lighting.environment)
        if "lights" in parts:
            vp.set_lights(scene.lighting.lights)
        if "display" in parts:
            vp.set_display(scene.display)

    # ---- window -> session ------------------------------------------------------------------
    def capture_loaded(self, capture: Any) -> None:
        self.capture_mesh = capture.load_mesh() if capture is not None else None
        self.shown_mesh = self.capture_mesh
        self.session.set_capture(capture, getattr(self.window, "capture_path", None))

    def scene_loaded(self, scene: Any) -> None:
        self.shown_mesh = scene.mesh  # the window made it the session's document already

    def channel_changed(self, channel: str) -> None:
        self.window.viewport.set_channel(channel)
        action = getattr(self.window, "channel_actions", {}).get(channel)
        if action is not None and not action.isChecked():
            action.setChecked(True)

    def window_channel(self, action: QAction) -> None:
        if action.data():
            self.panels.material.set_channel(str(action.data()), emit=False)

    def fit_status(self, text: str) -> None:
        setter = getattr(self.window, "set_progress_text", None)
        if callable(setter):
            setter(text)

    def error(self, title: str, path: Any, problem: str) -> None:
        self.window.show_error(title, path, problem)

    def fit_failed(self, problem: str) -> None:
        self.window.show_error("Fit Failed", getattr(self.window, "capture_path", None), problem, "fit")

    def other_dropped(self, path: str) -> None:
        self.window.open_path(path)

    def region_missed(self) -> None:
        self.window.statusBar().showMessage("No surface under the cursor", 3000)

    # ---- export ---------------------------------------------------------------------------------
    def open_export_dialog(self) -> ExportDialog:
        dialog = self.panels.export_dialog
        if dialog is None:
            window = self.window

            def capture_views():
                capture = self.session.capture
                return tuple(capture.views) if capture is not None else ()

            dialog = ExportDialog(
                self.session,
                camera=lambda: window.viewport.camera(),
                capture_views=capture_views,
                up=lambda: tuple(getattr(window.viewport.navigator, "up", (0.0, 1.0, 0.0))),
                parent=window,
            )
            dialog.exportFailed.connect(lambda problem: window.show_error("Export Failed", None, problem, "export"))
            self.panels.export_dialog = dialog
        dialog._kind_changed()
        dialog.show()
        dialog.raise_()
        return dialog

    # ---- closing ----------------------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.window and event.type() == QEvent.Type.Close:
            self.shutdown()
        return False

    def shutdown(self) -> None:
        self.panels.runner.shutdown()
        if self.panels.export_dialog is not None:
            self.panels.export_dialog.close()
        self.panels.compare.service.wait(10000)
        self.panels.lighting.wait(10000)
        self.session.close()

    def offer_recovery(self) -> None:
        found = find_recoveries(self.session.recovery_root)
        if not found:
            return
        latest = found[0]
        what = latest.document or latest.capture or "an unsaved scene"
        box = QMessageBox(QMessageBox.Icon.Question, "Recover Unsaved Work",
                          f"Relit did not close normally. Recover the edits to {what} "
                          f"(autosaved {latest.updated.replace('T', ' ')})?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Discard, self.window)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answer(button: int) -> None:
            if button == QMessageBox.StandardButton.Yes:
                self.session.restore(latest)
            else:
                from app.session import discard_recovery

                discard_recovery(latest)

        box.finished.connect(answer)
        box.open()


def install_panels(window: Any, *, recovery_root: str | Path | None = None, autosave_interval_s: float = 30.0,
                   offer_recovery: bool = True) -> Panels:
    """Add Relit's editing panels to `window` (see the module doc for what
    it needs of the window) and return them."""
    session: Session = window.session  # the window's document: give it its recovery folder and autosave
    if recovery_root is not None:
        session.recovery_root = Path(recovery_root)
    session.set_autosave_interval(autosave_interval_s)
    runner = FitRunner(window)
    qsettings = getattr(getattr(window, "settings", None), "qsettings", None)

    fit = FitPanel(session, runner)
    lighting = LightingPanel(session, qsettings, camera=window.viewport.camera)
    material = MaterialPanel(session)
    compare = ComparePanel(session)
    loss = LossPanel(compare)
    tools = ViewportTools(window.viewport, session)
    export_action = QAction("Export…", window)
    export_action.setShortcut("Ctrl+E")
    panels = Panels(session, runner, fit, lighting, material, loss, compare, tools, export_action)
    sync = _WindowSync(window, panels)
    panels.sync = sync

    right = Qt.DockWidgetArea.RightDockWidgetArea
    panels.docks["fit"] = window.add_dock(fit, "Fit", right)
    panels.docks["lighting"] = window.add_dock(lighting, "Lighting", right)
    panels.docks["material"] = window.add_dock(material, "Material", right)
    panels.docks["loss"] = window.add_dock(loss, "Loss", Qt.DockWidgetArea.BottomDockWidgetArea)
    saved = getattr(getattr(window, "settings", None), "window_state", lambda: None)()
    saved_bytes = bytes(saved) if saved is not None else b""
    for dock in panels.docks.values():
        # A dock the saved layout knows keeps its saved place and visibility;
        # a new one is shown (Qt leaves docks added to a shown window hidden).
        if dock.objectName().encode("utf-16-be") not in saved_bytes:
            dock.show()
    if not saved_bytes:
        window.resizeDocks([panels.docks["fit"]], [380], Qt.Orientation.Horizontal)
        window.resizeDocks([panels.docks["loss"]], [240], Qt.Orientation.Vertical)
    panels.docks["fit"].raise_()
    panels.docks["loss"].raise_()

    menu = getattr(window, "export_menu", None)
    if menu is not None:
        for action in list(menu.actions()):
            if not action.isEnabled() and "coming" in action.text():
                menu.removeAction(action)
        menu.addAction(export_action)
    export_action.triggered.connect(sync.open_export_dialog)
    export_action.setEnabled(False)

    # session -> window / viewport
    session.sceneChanged.connect(sync.scene_changed)
    session.sceneChanged.connect(lambda scene, _: export_action.setEnabled(scene is not None))
    session.previewScene.connect(sync.preview)
    session.openFailed.connect(lambda path, problem: window.show_error("Cannot Open Scene", path, problem))
    # window -> session
    window.captureLoaded.connect(sync.capture_loaded)
    window.sceneLoaded.connect(sync.scene_loaded)
    if session.scene is not None:
        sync.show(session.scene, {"mesh", "material", "environment", "lights", "display"})
    elif window.capture is not None:
        sync.capture_loaded(window.capture)
    # fit
    runner.snapshots.connect(loss.plot.add_snapshots)
    runner.started.connect(loss.plot.clear)
    runner.viewsReady.connect(compare.set_views)
    runner.viewErrors.connect(compare.set_errors)
    fit.statusText.connect(sync.fit_status)
    fit.fitFailed.connect(sync.fit_failed)
    # materials and channels
    material.channelChanged.connect(sync.channel_changed)
    material.pickModeToggled.connect(tools.set_pick_mode)
    material.pickModeToggled.connect(lambda on: on and lighting.move_button.setChecked(False))
    group = next(iter(getattr(window, "channel_actions", {}).values()), None)
    if group is not None and group.actionGroup() is not None:
        group.actionGroup().triggered.connect(sync.window_channel)
    tools.regionPicked.connect(material.select_at_uv)
    tools.pickMissed.connect(sync.region_missed)
    # lights and HDRIs
    lighting.moveLightToggled.connect(tools.set_move_light_mode)
    lighting.moveLightToggled.connect(lambda on: on and material.pick_button.setChecked(False))
    lighting.lightSelected.connect(tools.set_selected_light)
    lighting.loadFailed.connect(sync.error)
    tools.lightGrabbed.connect(lighting.select_light)
    tools.hdriDropped.connect(lighting.load_file)
    tools.otherDropped.connect(sync.other_dropped)
    window.environmentFileOpened.connect(lighting.load_file)
    window.deviceFound.connect(fit.device_found)
    if getattr(window, "device", None):
        fit.device_found(window.device)

    if offer_recovery:
        sync.offer_recovery()
    return panels
