"""The Fit panel: fit settings, Start / Pause / Resume / Cancel, progress
with ETA. The fit itself runs in app.fit_worker; this panel only turns
widgets into a FitConfig and snapshots into text."""

from __future__ import annotations

import math
from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.fit_worker import FitRunner, fitter_factory
from app.panels.controls import scrolled
from app.session import Session
from models.fit_config import FitConfig
from models.fit_progress import FitProgress

RESOLUTIONS = (64, 128, 256, 512, 1024, 2048, 4096)
LOSS_PRESETS: dict[str, dict[str, float]] = {
    "L1": {"l1": 1.0, "l2": 0.0, "charbonnier": 0.0, "ssim": 0.0},
    "L2": {"l1": 0.0, "l2": 1.0, "charbonnier": 0.0, "ssim": 0.0},
    "Charbonnier": {"l1": 0.0, "l2": 0.0, "charbonnier": 1.0, "ssim": 0.0},
    "L1 + SSIM": {"l1": 0.8, "l2": 0.0, "charbonnier": 0.0, "ssim": 0.2},
}
PHOTOMETRIC = ("l1", "l2", "charbonnier", "ssim")
PRIORS = ("albedo_smoothness", "roughness_smoothness", "metallic_smoothness", "white_balance", "metallic_sparsity")
MAX_ITERATIONS = 1_000_000


def format_duration(seconds: float) -> str:
    """'0:42', '12:05', '1:02:03'; '–' when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    s = round(max(seconds, 0.0))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def progress_text(p: FitProgress) -> str:
    """'Fit step 120/3000 · 31.2 dB · ETA 1:23' (status bar and panel)."""
    psnr = f" · {p.psnr:.1f} dB" if math.isfinite(p.psnr) else ""
    state = {"paused": " · paused", "cancelled": " · cancelled", "finished": " · done"}.get(p.state, "")
    eta = f" · ETA {format_duration(p.eta_s)}" if p.state == "running" else ""
    if p.stage == "geometry":
        return f"{p.message} · step {p.step + p.total_steps}/{p.total_steps}{eta}"
    start = f" · start {p.start + 1} of {p.starts}" if p.starts > 1 and p.state == "running" else ""
    return f"Fit step {p.step}/{p.total_steps}{start}{psnr}{eta}{state}"


class FitPanel(QWidget):
    """Settings and controls of a fit of the session's capture."""

    statusText = Signal(str)  # for the status bar
    fitFailed = Signal(str)

    def __init__(self, session: Session, runner: FitRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("fitPanel")
        self.session = session
        self.runner = runner
        self.last_progress: FitProgress | None = None
        self._build()
        self.set_config(FitConfig())
        runner.stateChanged.connect(self._update_buttons)
        runner.snapshots.connect(self._on_snapshots)
        runner.message.connect(self._on_message)
        runner.sceneUpdated.connect(session.show_fit_preview)
        runner.result.connect(self._on_result)
        runner.failed.connect(self._on_failed)
        runner.stopped.connect(self._update_buttons)
        session.captureChanged.connect(self._update_buttons)
        session.documentChanged.connect(self._update_buttons)
        self._update_buttons()

    # ---- layout ---------------------------------------------------------------------
    def _build(self) -> None:
        inner = QWidget()
        form = QVBoxLayout(inner)

        stop = QGroupBox("Length")
        f = QFormLayout(stop)
        self.stop_combo = QComboBox()
        self.stop_combo.addItems(["Iterations", "Time budget"])
        self.stop_combo.currentIndexChanged.connect(self._stop_mode_changed)
        self.iterations_spin = QSpinBox(minimum=1, maximum=MAX_ITERATIONS, singleStep=100)
        self.time_spin = QDoubleSpinBox(minimum=1.0, maximum=7 * 24 * 3600.0, decimals=0, suffix=" s", singleStep=30)
        f.addRow("Stop after", self.stop_combo)
        f.addRow("Iterations", self.iterations_spin)
        f.addRow("Time budget", self.time_spin)
        form.addWidget(stop)

        maps = QGroupBox("Maps and device")
        f = QFormLayout(maps)
        self.resolution_combo = QComboBox()
        for r in RESOLUTIONS:
            self.resolution_combo.addItem(f"{r} × {r}", r)
        self.device_combo = QComboBox()
        self.device_combo.addItem("Auto", None)
        self.device_combo.addItem("CPU", "cpu")
        self.device_combo.addItem("CUDA", "cuda")
        self.device_found("")  # CUDA stays off until the window's device query answers
        self.max_views_spin = QSpinBox(minimum=0, maximum=100000, specialValueText="all")
        self.downscale_spin = QSpinBox(minimum=1, maximum=16, prefix="1/")
        self.batch_spin = QSpinBox(minimum=16, maximum=1 << 20, singleStep=1024)
        self.geometry_combo = QComboBox()
        self.geometry_combo.addItem("Full (best)", False)
        self.geometry_combo.addItem("Fast (preview)", True)
        self.geometry_combo.setToolTip("How the shape is reconstructed from the photos when the capture has no mesh")
        f.addRow("Texture resolution", self.resolution_combo)
        f.addRow("Geometry (no mesh)", self.geometry_combo)
        f.addRow("Device", self.device_combo)
        f.addRow("Photos used", self.max_views_spin)
        f.addRow("Photo size", self.downscale_spin)
        f.addRow("Pixels per step", self.batch_spin)
        self.starts_combo = QComboBox()
        self.starts_combo.setToolTip("Each starting metallic is fitted from scratch for a quarter of the steps "
                                     "and time; the one that matches the photos best then goes on to the end")
        f.addRow("Starting metallic", self.starts_combo)
        form.addWidget(maps)

        loss = QGroupBox("Loss")
        f = QFormLayout(loss)
        self.loss_combo = QComboBox()
        self.loss_combo.addItems([*LOSS_PRESETS, "Custom"])
        self.loss_combo.activated.connect(self._loss_preset)
        f.addRow("Type", self.loss_combo)
        self.weight_spins: dict[str, QDoubleSpinBox] = {}
        for name in PHOTOMETRIC + PRIORS:
            spin = QDoubleSpinBox(minimum=0.0, maximum=100.0, decimals=4, singleStep=0.01)
            spin.valueChanged.connect(self._weights_edited)
            self.weight_spins[name] = spin
            f.addRow({"l1": "L1", "l2": "L2", "ssim": "1 − SSIM"}.get(name, name.replace("_", " ").capitalize()), spin)
        form.addWidget(loss)

        self.score_check = QCheckBox("Score each photo when the fit ends")
        self.score_check.setChecked(True)
        form.addWidget(self.score_check)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.cancel_button = QPushButton("Cancel")
        for b, slot in ((self.start_button, self.start), (self.pause_button, self.pause),
                        (self.resume_button, self.resume), (self.cancel_button, self.cancel)):
            b.clicked.connect(slot)
            buttons.addWidget(b)
        form.addLayout(buttons)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("Idle")
        form.addWidget(self.progress_bar)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        form.addWidget(self.status_label)
        form.addStretch(1)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scrolled(inner))

    def device_found(self, description: str) -> None:
        """The compute device as the main window found it off the GUI thread
        ('CPU', 'CUDA: <name>', '' while unknown): CUDA is offered only when present."""
        cuda = description.startswith("CUDA")
        item = self.device_combo.model().item(2)
        item.setEnabled(cuda)
        item.setToolTip(description if cuda else
                        "Looking for a CUDA device…" if not description else "No CUDA device is visible to torch")
        if not cuda and self.device_combo.currentIndex() == 2:
            self.device_combo.setCurrentIndex(0)

    # ---- settings <-> FitConfig ---------------------------------------------------------------
    def set_config(self, config: FitConfig) -> None:
        timed = config.time_budget_s is not None
        self.stop_combo.setCurrentIndex(1 if timed else 0)
        self.iterations_spin.setValue(min(config.iterations, MAX_ITERATIONS))
        self.time_spin.setValue(config.time_budget_s or 300.0)
        idx = self.resolution_combo.findData(config.texture_resolution)
        if idx < 0:
            self.resolution_combo.addItem(f"{config.texture_resolution} × {config.texture_resolution}", config.texture_resolution)
            idx = self.resolution_combo.count() - 1
        self.resolution_combo.setCurrentIndex(idx)
        self.device_combo.setCurrentIndex(max(0, self.device_combo.findData(config.device)))
        self.max_views_spin.setValue(config.max_views or 0)
        self.downscale_spin.setValue(config.downscale)
        self.batch_spin.setValue(config.batch_size)
        self._set_starts(config.metallic_starts)
        for name in PHOTOMETRIC:
            self.weight_spins[name].setValue(getattr(config.loss, name))
        for name in PRIORS:
            self.weight_spins[name].setValue(getattr(config.priors, name))
        self._base_config = config
        self._stop_mode_changed()
        self._weights_edited()

    def config(self) -> FitConfig:
        """The FitConfig the widgets describe (other fields from the last set_config)."""
        base = self._base_config
        timed = self.stop_combo.currentIndex() == 1
        loss = replace(base.loss, **{n: self.weight_spins[n].value() for n in PHOTOMETRIC})
        priors = replace(base.priors, **{n: self.weight_spins[n].value() for n in PRIORS})
        return replace(
            base,
            iterations=MAX_ITERATIONS if timed else self.iterations_spin.value(),
            time_budget_s=self.time_spin.value() if timed else None,
            texture_resolution=int(self.resolution_combo.currentData()),
            device=self.device_combo.currentData(),
            max_views=self.max_views_spin.value() or None,
            downscale=self.downscale_spin.value(),
            batch_size=self.batch_spin.value(),
            initial_metallic=self.starts_combo.currentData()[0],
            metallic_trials=self.starts_combo.currentData()[1:],
            loss=loss,
            priors=priors,
        )

    def _set_starts(self, starts: tuple[float, ...]) -> None:
        """Offer the default starts and one start alone, plus `starts` if it is neither; select `starts`."""
        defaults = FitConfig().metallic_starts
        choices = [defaults, defaults[:1]]
        if starts not in choices:
            choices.append(starts)
        self.starts_combo.clear()
        for choice in choices:
            text = ", then ".join(f"{m:g}" for m in choice) + (" (best kept)" if len(choice) > 1 else " only")
            self.starts_combo.addItem(text, choice)
        self.starts_combo.setCurrentIndex(choices.index(starts))

    def _stop_mode_changed(self, *_: object) -> None:
        timed = self.stop_combo.currentIndex() == 1
        self.iterations_spin.setEnabled(not timed)
        self.time_spin.setEnabled(timed)

    def _loss_preset(self, index: int) -> None:
        name = self.loss_combo.itemText(index)
        for term, weight in LOSS_PRESETS.get(name, {}).items():
            self.weight_spins[term].blockSignals(True)
            self.weight_spins[term].setValue(weight)
            self.weight_spins[term].blockSignals(False)
        self._weights_edited()

    def _weights_edited(self, *_: object) -> None:
        current = {n: self.weight_spins[n].value() for n in PHOTOMETRIC}
        match = next((k for k, v in LOSS_PRESETS.items() if all(abs(current[t] - w) < 1e-9 for t, w in v.items())), "Custom")
        self.loss_combo.setCurrentText(match)

    # ---- control -------------------------------------------------------------------------------
    def can_start(self) -> tuple[bool, str]:
        capture = self.session.capture
        if self.runner.running:
            return False, "A fit is running"
        if capture is None:
            return False, "Open a capture first (File ▸ Open Capture)"
        if getattr(capture, "mesh_path", None) is None:
            return True, "No mesh: reconstruct the shape from the photos, then fit materials and light"
        return True, "Fit materials and light to the capture's photos"

    def start(self) -> bool:
        """Start a fit of the session's capture with the panel's settings."""
        ok, why = self.can_start()
        if not ok:
            self.status_label.setText(why)
            return False
        try:
            config = self.config().validate()
        except Exception as exc:  # noqa: BLE001 - RelitError names the bad settings
            self.status_label.setText(str(exc))
            return False
        self.last_progress = None
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Starting…")
        self.session.begin_fit()
        fast_geometry = bool(self.geometry_combo.currentData())
        self.runner.start(fitter_factory(self.session.capture, config, fast_geometry=fast_geometry),
                          score_views=self.score_check.isChecked())
        self.status_label.setText("Starting…")
        return True

    def pause(self) -> None:
        self.runner.pause()

    def resume(self) -> None:
        self.runner.resume()

    def cancel(self) -> None:
        self.runner.cancel()

    def _update_buttons(self, *_: object) -> None:
        state = self.runner.state if self.runner.running else "idle"
        ok, why = self.can_start()
        self.start_button.setEnabled(ok)
        self.start_button.setToolTip(why)
        capture = self.session.capture
        self.geometry_combo.setEnabled(capture is not None and getattr(capture, "mesh_path", None) is None
                                       and not self.runner.running)
        self.pause_button.setEnabled(state == "running")
        self.resume_button.setEnabled(state in ("paused", "pausing"))
        self.cancel_button.setEnabled(state in ("running", "paused", "pausing"))
        if state == "pausing":
            self.progress_bar.setFormat("Pausing…")
        elif state == "cancelling":
            self.progress_bar.setFormat("Cancelling…")

    # ---- worker reports ------------------------------------------------------------------------
    def _on_message(self, text: str) -> None:
        self.status_label.setText(text)
        self.progress_bar.setFormat(text)
        self.statusText.emit(f"Fit: {text}")

    def _on_snapshots(self, batch: tuple[FitProgress, ...]) -> None:
        p = batch[-1]
        self.last_progress = p
        self.progress_bar.setValue(round(1000 * p.fraction))
        text = progress_text(p)
        eta = f"ETA {format_duration(p.eta_s)}" if p.state == "running" else p.state
        self.progress_bar.setFormat(f"{100 * p.fraction:.0f}% · {eta}")
        self.status_label.setText(text)
        self.statusText.emit(text)
        self._update_buttons()

    def _on_result(self, scene: object, state: str) -> None:
        """The fit's Scene (None: cancelled before its first step)."""
        step = self.last_progress.step if self.last_progress else 0
        text = "Fit" if state == "finished" else f"Fit (cancelled at step {step})"
        self.session.end_fit(scene, text)
        if state == "finished":
            self.progress_bar.setValue(1000)
        if scene is None:
            self.progress_bar.setFormat("Cancelled while preparing · nothing changed")
        else:
            self.progress_bar.setFormat("Done" if state == "finished" else f"Cancelled at step {step} · state kept")
        self.status_label.setText(self.progress_bar.format())
        self.statusText.emit(f"Fit {'done' if state == 'finished' else 'cancelled'} at step {step}")

    def _on_failed(self, problem: str) -> None:
        if self.session.fitting:
            self.session.end_fit(None)
        self.progress_bar.setFormat("Failed")
        self.status_label.setText(f"Fit failed: {problem}")
        self.statusText.emit("Fit failed")
        self.fitFailed.emit(problem)
