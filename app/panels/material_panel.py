"""The Material panel: channel views, global adjustments (albedo hue /
saturation / value, roughness and metallic scale and offset), region edits
(pick a surface point, select the region of similar material in its UV
chart, set or adjust its albedo, roughness, metallic).

The maths is models.material_edits; every change is a MaterialEdit on the
session's undo stack. An adjustment is relative to the maps as they were
when it began: moving the sliders replaces the previous preview (one undo
step per slider gesture); Apply keeps the result and sets the sliders back
to neutral for a new adjustment.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.commands import MaterialEdit
from app.panels.controls import ColorButton, ValueSlider, scrolled
from app.session import Session
from models import scene_params as sp
from models.material import MaterialMaps
from models.material_edits import (
    Adjustment,
    apply_adjustment,
    grow_into_padding,
    region_preview,
    region_summary,
    select_region,
    texel_charts,
    uv_to_texel,
)

CHANNELS = ("shaded", "albedo", "roughness", "metallic", "normal", "ao")
PREVIEW_DELAY_MS = 30
PADDING_TEXELS = 2
ADJUST_KEY = "material.adjust"

# slider name -> (Adjustment field, minimum, maximum, neutral, decimals, suffix)
SLIDERS = {
    "hue": ("hue_shift", -180.0, 180.0, 0.0, 1, "°"),
    "saturation": ("saturation", 0.0, 2.0, 1.0, 2, "×"),
    "value": ("value", 0.0, 2.0, 1.0, 2, "×"),
    "roughness_scale": ("roughness_scale", 0.0, 2.0, 1.0, 2, "×"),
    "roughness_offset": ("roughness_offset", -1.0, 1.0, 0.0, 2, ""),
    "metallic_scale": ("metallic_scale", 0.0, 2.0, 1.0, 2, "×"),
    "metallic_offset": ("metallic_offset", -1.0, 1.0, 0.0, 2, ""),
}


class MaterialPanel(QWidget):
    """Material views and edits of the session's scene."""

    channelChanged = Signal(str)
    pickModeToggled = Signal(bool)
    regionChanged = Signal(object)  # (R,R) bool mask or None

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("materialPanel")
        self.session = session
        self.region: np.ndarray | None = None
        self.region_seed: tuple[int, int] | None = None
        self._charts: tuple[Any, int, np.ndarray] | None = None  # (mesh, resolution, charts)
        self._adjust_base: MaterialMaps | None = None
        self._adjust_mask: np.ndarray | None = None
        self._pushed: list[tuple[MaterialMaps, Adjustment]] = []
        self._syncing = False
        self._build()
        self._preview_timer = QTimer(self, singleShot=True, interval=PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self.preview_adjustment)
        session.sceneChanged.connect(self._scene_changed)
        session.documentChanged.connect(self.clear_region)
        session.fittingChanged.connect(lambda _: self._update_enabled())
        self._update_enabled()

    # ---- layout ---------------------------------------------------------------------
    def _build(self) -> None:
        inner = QWidget()
        v = QVBoxLayout(inner)

        f = QFormLayout()
        self.channel_combo = QComboBox()
        for c in CHANNELS:
            self.channel_combo.addItem("AO" if c == "ao" else c.capitalize(), c)
        self.channel_combo.currentIndexChanged.connect(lambda _: self.channelChanged.emit(self.channel()))
        f.addRow("View", self.channel_combo)
        v.addLayout(f)

        adjust = QGroupBox("Adjust")
        af = QFormLayout(adjust)
        self.target_combo = QComboBox()
        self.target_combo.addItem("Whole object", "all")
        self.target_combo.addItem("Selected region", "region")
        self.target_combo.currentIndexChanged.connect(lambda _: self.apply_adjustment_now())
        af.addRow("Apply to", self.target_combo)
        self.sliders: dict[str, ValueSlider] = {}
        labels = {"hue": "Albedo hue", "saturation": "Albedo saturation", "value": "Albedo value",
                  "roughness_scale": "Roughness scale", "roughness_offset": "Roughness offset",
                  "metallic_scale": "Metallic scale", "metallic_offset": "Metallic offset"}
        for key, (_, lo, hi, neutral, decimals, suffix) in SLIDERS.items():
            s = ValueSlider(lo, hi, neutral, decimals=decimals, steps=360 if key == "hue" else 400, suffix=suffix)
            s.edited.connect(self._slider_edited)
            s.committed.connect(self._commit)
            self.sliders[key] = s
            af.addRow(labels[key], s)
        row = QHBoxLayout()
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Keep this adjustment and set the sliders back to neutral")
        self.apply_button.clicked.connect(self.apply_adjustment_now)
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Set the sliders back to neutral (the maps as they were before this adjustment)")
        self.reset_button.clicked.connect(self.reset_sliders)
        row.addWidget(self.reset_button)
        row.addWidget(self.apply_button)
        af.addRow(row)
        v.addWidget(adjust)

        region = QGroupBox("Region")
        rv = QVBoxLayout(region)
        self.pick_button = QPushButton("Pick Region in Viewport")
        self.pick_button.setCheckable(True)
        self.pick_button.setToolTip("Click the object to select the area of similar material around that point")
        self.pick_button.toggled.connect(self.pickModeToggled)
        rv.addWidget(self.pick_button)
        rf = QFormLayout()
        self.tolerance = ValueSlider(0.0, 0.5, 0.08, decimals=3, steps=500)
        self.tolerance.edited.connect(lambda _: self._reselect())
        rf.addRow("Tolerance", self.tolerance)
        rv.addLayout(rf)
        self.region_label = QLabel("No region selected")
        self.region_label.setWordWrap(True)
        rv.addWidget(self.region_label)
        self.region_view = QLabel()
        self.region_view.setObjectName("regionPreview")
        self.region_view.setFixedSize(128, 128)
        self.region_view.setToolTip("The albedo texture (UV space) with the selected region highlighted")
        rv.addWidget(self.region_view, 0, Qt.AlignmentFlag.AlignHCenter)
        sf = QFormLayout()
        self.albedo_button = ColorButton("Set Albedo…", (0.5, 0.5, 0.5))
        self.albedo_button.colorChosen.connect(lambda c: self.set_region_values(albedo=c))
        sf.addRow("Albedo", self.albedo_button)
        self.roughness_spin = QDoubleSpinBox(minimum=0.0, maximum=1.0, decimals=3, singleStep=0.05, value=0.5)
        b = QPushButton("Set")
        b.clicked.connect(lambda: self.set_region_values(roughness=self.roughness_spin.value()))
        sf.addRow("Roughness", self._pair(self.roughness_spin, b))
        self.metallic_spin = QDoubleSpinBox(minimum=0.0, maximum=1.0, decimals=3, singleStep=0.05, value=0.0)
        b = QPushButton("Set")
        b.clicked.connect(lambda: self.set_region_values(metallic=self.metallic_spin.value()))
        sf.addRow("Metallic", self._pair(self.metallic_spin, b))
        self.region_edit_widget = QWidget()
        self.region_edit_widget.setLayout(sf)
        rv.addWidget(self.region_edit_widget)
        self.clear_button = QPushButton("Clear Selection")
        self.clear_button.clicked.connect(self.clear_region)
        rv.addWidget(self.clear_button)
        v.addWidget(region)
        v.addStretch(1)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scrolled(inner))

    @staticmethod
    def _pair(a: QWidget, b: QWidget) -> QWidget:
        w = QWidget()
        h = QHBoxLayout(w)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(a, 1)
        h.addWidget(b)
        return w

    # ---- channel ----------------------------------------------------------------------------
    def channel(self) -> str:
        return str(self.channel_combo.currentData())

    def set_channel(self, channel: str, emit: bool = True) -> None:
        idx = self.channel_combo.findData(channel)
        if idx < 0:
            raise ValueError(f"unknown channel {channel!r}")
        self.channel_combo.blockSignals(not emit)
        self.channel_combo.setCurrentIndex(idx)
        self.channel_combo.blockSignals(False)

    # ---- global / region adjustments ----------------------------------------------------------
    def adjustment(self) -> Adjustment:
        """The Adjustment the sliders describe."""
        return Adjustment(**{field: self.sliders[key].value() for key, (field, *_rest) in SLIDERS.items()})

    def set_adjustment(self, adjustment: Adjustment, emit: bool = False) -> None:
        """Show `adjustment` on the sliders (and apply it when `emit`)."""
        for key, (field, *_rest) in SLIDERS.items():
            self.sliders[key].set_value(getattr(adjustment, field))
        if emit:
            self.preview_adjustment()
            self.session.end_merge()

    def _slider_edited(self, _: float) -> None:
        if not self._syncing:
            self._preview_timer.start()

    def _commit(self) -> None:
        """A slider gesture ended: apply what is pending, close its undo step."""
        if self._preview_timer.isActive():
            self.preview_adjustment()
        self.session.end_merge()

    def preview_adjustment(self) -> None:
        """Apply the sliders to the maps as they were when this adjustment began."""
        self._preview_timer.stop()
        scene = self.session.scene
        if scene is None or self.session.fitting:
            return
        if self._adjust_base is None:
            self._adjust_base = scene.material
            self._adjust_mask = self._target_mask()
            self._pushed = []
        adj = self.adjustment()
        maps = apply_adjustment(self._adjust_base, adj, self._adjust_mask)
        if maps is scene.material:
            return
        self._pushed.append((maps, adj))
        where = "region" if self._adjust_mask is not None else "material"
        self.session.push(MaterialEdit(self.session, maps, f"Adjust {where}: {adj.describe()}", ADJUST_KEY))

    def apply_adjustment_now(self) -> None:
        """Keep what the sliders did; the next slider move starts a new adjustment."""
        if self._preview_timer.isActive():
            self.preview_adjustment()
        self.session.end_merge()
        self._close_adjustment()

    def reset_sliders(self) -> None:
        """Sliders back to neutral: the maps return to this adjustment's start (undoable)."""
        self.set_adjustment(Adjustment(), emit=self._adjust_base is not None)
        self._close_adjustment()

    def _close_adjustment(self) -> None:
        self._adjust_base = None
        self._adjust_mask = None
        self._pushed = []
        self.set_adjustment(Adjustment())

    def _target_mask(self) -> np.ndarray | None:
        if self.target_combo.currentData() != "region" or self.region is None:
            return None
        return self._edit_mask()

    # ---- regions -----------------------------------------------------------------------------
    def charts(self) -> np.ndarray | None:
        """Chart id per texel of the current maps (cached per mesh and size)."""
        scene = self.session.scene
        if scene is None or scene.mesh.uv is None:
            return None
        res = scene.material.resolution[0]
        if self._charts is None or self._charts[0] is not scene.mesh or self._charts[1] != res:
            self._charts = (scene.mesh, res, texel_charts(scene.mesh, res))
        return self._charts[2]

    def select_at_uv(self, uv: Any) -> np.ndarray | None:
        """Select the region of similar material around texture coordinate `uv`
        (what the viewport's pick gives)."""
        scene = self.session.scene
        if scene is None:
            return None
        return self.select_at_texel(uv_to_texel(uv, scene.material.resolution))

    def select_at_texel(self, seed: tuple[int, int]) -> np.ndarray | None:
        self.region_seed = (int(seed[0]), int(seed[1]))
        return self._reselect()

    def _reselect(self) -> np.ndarray | None:
        scene = self.session.scene
        if scene is None or self.region_seed is None:
            return None
        self.region = select_region(scene.material, self.region_seed, self.tolerance.value(), self.charts())
        if self.target_combo.currentData() != "region":
            self.target_combo.blockSignals(True)
            self.target_combo.setCurrentIndex(1)
            self.target_combo.blockSignals(False)
        self._close_adjustment()
        self._show_region()
        self.regionChanged.emit(self.region)
        return self.region

    def clear_region(self) -> None:
        self.region = None
        self.region_seed = None
        self.target_combo.blockSignals(True)
        self.target_combo.setCurrentIndex(0)
        self.target_combo.blockSignals(False)
        self._close_adjustment()
        self._show_region()
        self.regionChanged.emit(None)

    def _edit_mask(self) -> np.ndarray:
        """The region plus the chart padding next to it (seams stay clean)."""
        charts = self.charts()
        assert self.region is not None
        return self.region if charts is None else grow_into_padding(self.region, charts, PADDING_TEXELS)

    def set_region_values(self, albedo: tuple[float, float, float] | None = None, roughness: float | None = None,
                          metallic: float | None = None) -> bool:
        """Set the selected region's albedo (linear RGB), roughness or metallic."""
        scene = self.session.scene
        if scene is None or self.region is None or self.session.fitting:
            return False
        adj = Adjustment(albedo=None if albedo is None else tuple(float(c) for c in albedo),
                         roughness=roughness, metallic=metallic)
        maps = apply_adjustment(scene.material, adj, self._edit_mask())
        self._close_adjustment()
        self.session.push(MaterialEdit(self.session, maps, f"Set region {adj.describe()}"))
        self.session.end_merge()
        return True

    def _show_region(self) -> None:
        scene = self.session.scene
        if scene is None:
            self.region_view.clear()
            self.region_label.setText("No scene")
        else:
            rgb = region_preview(scene.material, self.region, 128)
            image = QImage(rgb.tobytes(), 128, 128, 3 * 128, QImage.Format.Format_RGB888).copy()
            self.region_view.setPixmap(QPixmap.fromImage(image))
            if self.region is None:
                self.region_label.setText("No region selected: turn on picking and click the object")
            else:
                s = region_summary(scene.material, self.region)
                a = s["albedo"]
                self.region_label.setText(
                    f"{s['texels']} texels · albedo ({a[0]:.2f}, {a[1]:.2f}, {a[2]:.2f}) · "
                    f"roughness {s['roughness']:.2f} · metallic {s['metallic']:.2f}")
                self.albedo_button.set_color(a)
                self.roughness_spin.setValue(s["roughness"])
                self.metallic_spin.setValue(s["metallic"])
        self._update_enabled()

    # ---- sync from the model -----------------------------------------------------------------------
    def _scene_changed(self, scene: Any, names: frozenset[str]) -> None:
        if scene is None:
            self.region = None
            self.region_seed = None
            self._close_adjustment()
        elif any(sp.part_of(n) in ("material", "mesh") for n in names):
            maps = scene.material
            if self.region is not None and self.region.shape != maps.resolution:
                self.region, self.region_seed = None, None
            if self._adjust_base is not None:
                pushed = next((adj for m, adj in self._pushed if m is maps), None)
                if pushed is not None:  # undo/redo within this adjustment: show its sliders
                    self._syncing = True
                    self.set_adjustment(pushed)
                    self._syncing = False
                elif maps is self._adjust_base:
                    self._syncing = True
                    self.set_adjustment(Adjustment())
                    self._syncing = False
                else:  # the maps changed elsewhere: this adjustment is over
                    self._close_adjustment()
        self._show_region()

    def _update_enabled(self) -> None:
        editable = self.session.scene is not None and not self.session.fitting
        for w in (*self.sliders.values(), self.apply_button, self.reset_button, self.pick_button, self.tolerance):
            w.setEnabled(editable)
        has_region = editable and self.region is not None
        self.region_edit_widget.setEnabled(has_region)
        self.clear_button.setEnabled(self.region is not None)
        self.target_combo.model().item(1).setEnabled(self.region is not None)
        if not editable and self.pick_button.isChecked():
            self.pick_button.setChecked(False)
