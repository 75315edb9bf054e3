"""The Lighting panel: the HDRI library (recovered environment, bundled
presets, user folders, single files), environment rotation / exposure /
strength, background visibility and blur; punctual lights (add, select,
colour, intensity, position, direction, cones, remove).

Every change is an undoable edit through the Session, by stable value name
(models.scene_params). HDR files load on a worker thread; thumbnails too.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.commands import EnvironmentEdit, LightsEdit
from app.panels.controls import ColorButton, ValueSlider, scrolled
from app.panels.jobs import BackgroundJobs
from app.session import Session
from models import scene_params as sp
from models.hdri_library import (
    HDRI_SUFFIXES,
    HdriEntry,
    HdriError,
    library,
    load_environment,
    thumbnail,
)
from models.light_edits import LIGHT_KINDS, aim_at, default_light
from models.lighting import Environment

log = logging.getLogger(__name__)

FOLDERS_KEY = "hdri/folders"
RECOVERED_KEY = "recovered"
THUMB_WIDTH = 96
ENTRY_ROLE = Qt.ItemDataRole.UserRole


def _icon(rgb8) -> QIcon:
    h, w = rgb8.shape[:2]
    image = QImage(rgb8.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QIcon(QPixmap.fromImage(image))


def _label(entry: HdriEntry) -> str:
    if entry.source == "bundled":
        return f"{entry.name}  (preset)"
    if entry.source == "user" and entry.path is not None:
        return f"{entry.name}  ({entry.path.parent.name})"
    return entry.name


class LightingPanel(QWidget):
    """Environment and punctual lights of the session's scene."""

    environmentLoaded = Signal(object)  # Environment applied from a file
    loadFailed = Signal(str, object, str)  # title, path, problem
    moveLightToggled = Signal(bool)
    lightSelected = Signal(int)  # -1: none

    def __init__(self, session: Session, qsettings: QSettings | None = None, parent: QWidget | None = None,
                 camera: Any = None):
        super().__init__(parent)
        self.setObjectName("lightingPanel")
        self.session = session
        self.camera = camera  # () -> Camera of the current view (new lights go where it sees them)
        self.qsettings = qsettings
        self.user_folders: list[Path] = self._stored_folders()
        self.opened_files: list[Path] = []
        self.jobs = BackgroundJobs(self)
        self.jobs.done.connect(self._task_done)
        self.jobs.failed.connect(self._task_failed)
        self._thumbs: dict[str, QIcon] = {}
        self._syncing = False
        self.selected_light = -1
        self._build()
        session.sceneChanged.connect(self._scene_changed)
        session.recoveredEnvironmentChanged.connect(lambda _: self.refresh_library())
        session.fittingChanged.connect(lambda _: self._update_enabled())
        self.refresh_library()
        self._scene_changed(session.scene, frozenset())

    # ---- layout ---------------------------------------------------------------------
    def _build(self) -> None:
        inner = QWidget()
        v = QVBoxLayout(inner)

        env = QGroupBox("Environment")
        ev = QVBoxLayout(env)
        self.current_label = QLabel("No scene")
        ev.addWidget(self.current_label)
        self.hdri_list = QListWidget()
        self.hdri_list.setObjectName("hdriList")
        self.hdri_list.setIconSize(QSize(THUMB_WIDTH, THUMB_WIDTH // 2))
        self.hdri_list.setMinimumHeight(150)
        self.hdri_list.itemClicked.connect(self._entry_clicked)
        self.hdri_list.itemActivated.connect(self._entry_clicked)
        ev.addWidget(self.hdri_list)
        row = QHBoxLayout()
        self.add_folder_button = QPushButton("Add Folder…")
        self.add_folder_button.clicked.connect(self._ask_folder)
        self.load_file_button = QPushButton("Load File…")
        self.load_file_button.clicked.connect(self._ask_file)
        row.addWidget(self.add_folder_button)
        row.addWidget(self.load_file_button)
        ev.addLayout(row)
        f = QFormLayout()
        self.rotation = ValueSlider(-180.0, 180.0, 0.0, decimals=1, steps=360, suffix="°")
        self.exposure = ValueSlider(-8.0, 8.0, 0.0, decimals=2, steps=320, suffix=" EV")
        self.strength = ValueSlider(0.0, 10.0, 1.0, decimals=2, steps=1000)
        self.blur = ValueSlider(0.0, 1.0, 0.0, decimals=2, steps=100)
        self.background_check = QCheckBox("Show the environment behind the object")
        for control, name in ((self.rotation, sp.ENV_ROTATION), (self.exposure, sp.ENV_EXPOSURE),
                              (self.strength, sp.ENV_STRENGTH), (self.blur, sp.BACKGROUND_BLUR)):
            control.edited.connect(lambda value, n=name: self._set(n, value))
            control.committed.connect(self.session.end_merge)
        self.background_check.toggled.connect(self._background_toggled)
        f.addRow("Rotation", self.rotation)
        f.addRow("Exposure", self.exposure)
        f.addRow("Strength", self.strength)
        f.addRow(self.background_check)
        f.addRow("Background blur", self.blur)
        ev.addLayout(f)
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #e08080")
        ev.addWidget(self.error_label)
        v.addWidget(env)

        lights = QGroupBox("Lights")
        lv = QVBoxLayout(lights)
        row = QHBoxLayout()
        self.add_buttons: dict[str, QPushButton] = {}
        for kind in LIGHT_KINDS:
            b = QPushButton(f"+ {kind.capitalize()}")
            b.clicked.connect(lambda _=False, k=kind: self.add_light(k))
            self.add_buttons[kind] = b
            row.addWidget(b)
        lv.addLayout(row)
        self.light_list = QListWidget()
        self.light_list.setObjectName("lightList")
        self.light_list.setMaximumHeight(110)
        self.light_list.currentRowChanged.connect(self._light_row_changed)
        lv.addWidget(self.light_list)
        row = QHBoxLayout()
        self.move_button = QPushButton("Move in Viewport")
        self.move_button.setCheckable(True)
        self.move_button.setToolTip("Drag a light's marker in the viewport (on the plane facing the camera)")
        self.move_button.toggled.connect(self.moveLightToggled)
        self.aim_button = QPushButton("Aim at Object")
        self.aim_button.clicked.connect(self._aim_selected)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        row.addWidget(self.move_button)
        row.addWidget(self.aim_button)
        row.addWidget(self.remove_button)
        lv.addLayout(row)
        self.light_form = QWidget()
        lf = QFormLayout(self.light_form)
        lf.setContentsMargins(0, 0, 0, 0)
        self.color_button = ColorButton("Colour")
        self.color_button.colorChosen.connect(lambda c: self._set_light("color", c))
        self.intensity_spin = QDoubleSpinBox(minimum=0.0, maximum=1e7, decimals=3, singleStep=1.0)
        self.intensity_spin.setKeyboardTracking(False)
        self.intensity_spin.valueChanged.connect(lambda x: self._set_light("intensity", x))
        position_box, self.position_spins = self._triple(lambda xyz: self._set_light("position", xyz))
        direction_box, self.direction_spins = self._triple(lambda xyz: self._set_light("direction", xyz), lo=-1.0, hi=1.0)
        self.outer_spin = QDoubleSpinBox(minimum=0.5, maximum=90.0, decimals=1, suffix="°")
        self.outer_spin.setKeyboardTracking(False)
        self.outer_spin.valueChanged.connect(lambda d: self._set_light("outer_cone", math.radians(d)))
        self.inner_spin = QDoubleSpinBox(minimum=0.0, maximum=90.0, decimals=1, suffix="°")
        self.inner_spin.setKeyboardTracking(False)
        self.inner_spin.valueChanged.connect(lambda d: self._set_light("inner_cone", math.radians(d)))
        lf.addRow("Colour", self.color_button)
        lf.addRow("Intensity", self.intensity_spin)
        lf.addRow("Position", position_box)
        lf.addRow("Direction", direction_box)
        lf.addRow("Spot outer", self.outer_spin)
        lf.addRow("Spot inner", self.inner_spin)
        lv.addWidget(self.light_form)
        v.addWidget(lights)
        v.addStretch(1)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scrolled(inner))

    def _triple(self, on_change, lo: float = -1e4, hi: float = 1e4) -> tuple[QWidget, list[QDoubleSpinBox]]:
        box = QWidget()
        h = QHBoxLayout(box)
        h.setContentsMargins(0, 0, 0, 0)
        spins = []
        for _ in range(3):
            s = QDoubleSpinBox(minimum=lo, maximum=hi, decimals=3, singleStep=0.05)
            s.setKeyboardTracking(False)
            h.addWidget(s)
            spins.append(s)
        for s in spins:
            s.valueChanged.connect(lambda _=0.0: on_change(tuple(x.value() for x in spins)))
        return box, spins

    # ---- library ---------------------------------------------------------------------------
    def _stored_folders(self) -> list[Path]:
        if self.qsettings is None:
            return []
        value = self.qsettings.value(FOLDERS_KEY, [])
        if isinstance(value, str):
            value = [value]
        return [Path(v) for v in (value or []) if v]

    def entries(self) -> list[HdriEntry]:
        """What the library lists, in order (recovered first when there is one)."""
        found, errors = library(self.user_folders)
        for exc in errors:
            log.warning("HDRI folder: %s", exc)
        out = [HdriEntry("Recovered (fit)", None, "recovered")] if self.session.recovered_environment is not None else []
        known = {e.key for e in found}
        out += found + [HdriEntry(p.stem, p, "file") for p in self.opened_files if str(p) not in known]
        return out

    def refresh_library(self) -> None:
        self.hdri_list.blockSignals(True)
        self.hdri_list.clear()
        for entry in self.entries():
            item = QListWidgetItem(_label(entry))
            item.setData(ENTRY_ROLE, entry)
            item.setToolTip(str(entry.path) if entry.path else "The environment the fit recovered from the photos")
            if entry.key in self._thumbs:
                item.setIcon(self._thumbs[entry.key])
            else:
                self._request_thumbnail(entry)
            self.hdri_list.addItem(item)
        self.hdri_list.blockSignals(False)
        self._mark_current()

    def add_folder(self, folder: str | Path) -> None:
        folder = Path(folder).expanduser()
        if folder not in self.user_folders:
            self.user_folders.append(folder)
            if self.qsettings is not None:
                self.qsettings.setValue(FOLDERS_KEY, [str(p) for p in self.user_folders])
        self.refresh_library()

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add HDRI Folder")
        if folder:
            self.add_folder(folder)

    def _ask_file(self) -> None:
        patterns = " ".join(f"*{s}" for s in HDRI_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Load HDR Environment", "", f"HDR images ({patterns})")
        if path:
            self.load_file(path)

    def load_file(self, path: str | Path) -> None:
        """Load an .hdr/.exr (dialog, drop on the viewport) and use it."""
        path = Path(path).expanduser()
        if path not in self.opened_files:
            self.opened_files.append(path)
        self.load_entry(HdriEntry(path.stem, path, "file"))

    def load_entry(self, entry: HdriEntry) -> None:
        """Use a library entry as the environment (files load in the background)."""
        if self.session.scene is None:
            problem = "there is no scene to light yet: fit the capture or open a scene first"
            self._show_error(f"{entry.name}: {problem}")
            self.loadFailed.emit("Cannot Load Environment", entry.path, problem)
            return
        if entry.source == "recovered":
            env = self.session.recovered_environment
            if env is not None:
                self._use_environment(env, "Recovered environment")
            return
        self.error_label.setText(f"Loading {entry.name}…")
        self._start(("load", entry), lambda: load_environment(entry.path))

    def _entry_clicked(self, item: QListWidgetItem) -> None:
        self.load_entry(item.data(ENTRY_ROLE))

    def _use_environment(self, env: Environment, text: str | None = None) -> None:
        current = self.session.require_scene().lighting.environment
        env = Environment(env.radiance, current.rotation_deg, current.exposure_ev, current.strength, env.name)
        self.session.push(EnvironmentEdit(self.session, env, text))

    def _request_thumbnail(self, entry: HdriEntry) -> None:
        if entry.source == "recovered":
            env = self.session.recovered_environment
            if env is not None:
                self._thumbs[entry.key] = _icon(thumbnail(env.radiance, THUMB_WIDTH))
            return
        self._start(("thumb", entry), lambda: thumbnail(load_environment(entry.path).radiance, THUMB_WIDTH))

    def _start(self, tag: tuple, fn) -> None:
        self.jobs.start(tag, fn)

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until background loads are done (tests)."""
        return self.jobs.wait(timeout_ms)

    def _task_done(self, tag: tuple, result: Any) -> None:
        kind, entry = tag
        if kind == "thumb":
            icon = _icon(result)
            self._thumbs[entry.key] = icon
            for i in range(self.hdri_list.count()):
                item = self.hdri_list.item(i)
                if item.data(ENTRY_ROLE).key == entry.key:
                    item.setIcon(icon)
            return
        self.error_label.setText("")
        if self.session.scene is not None:
            self._use_environment(result)
            self.environmentLoaded.emit(result)

    def _task_failed(self, tag: tuple, exc: BaseException) -> None:
        kind, entry = tag
        problem = exc.problem if isinstance(exc, HdriError) or hasattr(exc, "problem") else str(exc)
        if kind == "thumb":
            log.warning("HDRI thumbnail %s: %s", entry.path, problem)
            return
        self._show_error(f"{entry.path.name if entry.path else entry.name}: {problem}")
        self.loadFailed.emit("Cannot Load Environment", entry.path, problem)

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)

    # ---- environment controls ----------------------------------------------------------------
    def _set(self, name: str, value: Any) -> None:
        if self._syncing or self.session.scene is None:
            return
        self.session.set_value(name, value)

    def _background_toggled(self, on: bool) -> None:
        if self._syncing or self.session.scene is None:
            return
        self.session.set_value(sp.BACKGROUND, "environment" if on else "color",
                               "Show environment background" if on else "Hide environment background", merge=False)

    # ---- lights --------------------------------------------------------------------------------
    def add_light(self, kind: str) -> int:
        """Add a light of `kind` near the object; returns its index."""
        scene = self.session.require_scene()
        center, radius = scene.mesh.bounding_sphere()
        index = len(scene.lighting.lights)
        camera = self.camera() if callable(self.camera) else None
        light = default_light(kind, center, radius, index=index, camera=camera)  # type: ignore[arg-type]
        self.session.push(LightsEdit(self.session, (*scene.lighting.lights, light), f"Add {kind} light"))
        self.select_light(index)
        return index

    def remove_selected(self) -> None:
        scene = self.session.scene
        i = self.selected_light
        if scene is None or not 0 <= i < len(scene.lighting.lights):
            return
        lights = list(scene.lighting.lights)
        removed = lights.pop(i)
        self.session.push(LightsEdit(self.session, tuple(lights), f"Remove {removed.name}"))
        self.select_light(min(i, len(lights) - 1))

    def select_light(self, index: int) -> None:
        self.light_list.setCurrentRow(index)
        self._light_row_changed(index)

    def _light_row_changed(self, row: int) -> None:
        self.selected_light = row
        self._sync_light_form()
        self.lightSelected.emit(row)

    def _set_light(self, field: str, value: Any, merge: bool = False) -> None:
        scene = self.session.scene
        if self._syncing or scene is None or not 0 <= self.selected_light < len(scene.lighting.lights):
            return
        name = sp.light_name(self.selected_light, field)
        try:
            self.session.set_value(name, value, f"Light {self.selected_light + 1}: {field}", merge=merge)
        except ValueError as exc:
            self._show_error(str(exc))
            return
        if not merge:
            self.session.end_merge()

    def _aim_selected(self) -> None:
        scene = self.session.scene
        i = self.selected_light
        if scene is None or not 0 <= i < len(scene.lighting.lights):
            return
        center, _ = scene.mesh.bounding_sphere()
        self.session.set_value(sp.light_name(i), aim_at(scene.lighting.lights[i], center), "Aim light at object", merge=False)

    # ---- sync from the model -------------------------------------------------------------------------
    def _scene_changed(self, scene: Any, names: frozenset[str]) -> None:
        self._syncing = True
        try:
            if scene is None:
                self.current_label.setText("No scene: fit the capture or open a scene")
            else:
                env = scene.lighting.environment
                h, w = env.radiance.shape[:2]
                self.current_label.setText(f"Current: {env.name}  ({w}×{h})")
                self.rotation.set_value(env.rotation_deg)
                self.exposure.set_value(env.exposure_ev)
                self.strength.set_value(env.strength)
                self.background_check.setChecked(scene.display.background == "environment")
                self.blur.set_value(scene.display.background_blur)
                self._sync_light_list(scene)
            self._mark_current()
        finally:
            self._syncing = False
        self._sync_light_form()
        self._update_enabled()

    def _sync_light_list(self, scene: Any) -> None:
        lights = scene.lighting.lights
        self.light_list.blockSignals(True)
        self.light_list.clear()
        for i, light in enumerate(lights):
            self.light_list.addItem(f"{i + 1}. {light.name} ({light.kind}, {light.intensity:.3g})")
        if lights:
            self.selected_light = min(max(self.selected_light, 0), len(lights) - 1)
            self.light_list.setCurrentRow(self.selected_light)
        else:
            self.selected_light = -1
        self.light_list.blockSignals(False)

    def _sync_light_form(self) -> None:
        scene = self.session.scene
        i = self.selected_light
        ok = scene is not None and 0 <= i < len(scene.lighting.lights)
        self.light_form.setEnabled(ok)
        for b in (self.remove_button, self.aim_button):
            b.setEnabled(ok)
        if not ok:
            return
        light = scene.lighting.lights[i]
        was, self._syncing = self._syncing, True
        try:
            self.color_button.set_color(light.color)
            self.intensity_spin.setValue(light.intensity)
            for s, x in zip(self.position_spins, light.position):
                s.setValue(x)
            for s, x in zip(self.direction_spins, light.direction):
                s.setValue(x)
            self.outer_spin.setValue(math.degrees(light.outer_cone))
            self.inner_spin.setValue(math.degrees(light.inner_cone))
            directed = light.kind in ("directional", "spot")
            for s in self.direction_spins:
                s.setEnabled(directed)
            self.aim_button.setEnabled(directed)
            self.outer_spin.setEnabled(light.kind == "spot")
            self.inner_spin.setEnabled(light.kind == "spot")
        finally:
            self._syncing = was

    def _mark_current(self) -> None:
        scene = self.session.scene
        if scene is None:
            return
        env = scene.lighting.environment
        for i in range(self.hdri_list.count()):
            item = self.hdri_list.item(i)
            entry: HdriEntry = item.data(ENTRY_ROLE)
            is_current = (env is self.session.recovered_environment or env.radiance is getattr(
                self.session.recovered_environment, "radiance", None)) if entry.source == "recovered" else (
                entry.path is not None and entry.path.stem == env.name)
            font = item.font()
            font.setBold(bool(is_current))
            item.setFont(font)

    def _update_enabled(self) -> None:
        editable = self.session.scene is not None and not self.session.fitting
        for w in (self.rotation, self.exposure, self.strength, self.blur, self.background_check, self.hdri_list,
                  self.move_button, *self.add_buttons.values()):
            w.setEnabled(editable)
        if not editable:
            self.move_button.setChecked(False)
            self.light_form.setEnabled(False)
        tip = "" if editable else ("A fit is running" if self.session.fitting else "Fit the capture or open a scene first")
        self.setToolTip(tip)

