"""Small composite controls shared by the panels.

`ValueSlider`: a float slider with a spin box beside it. It emits `edited`
while the value changes (drag, keys, typing) and `committed` once the user is
done (slider released, or a moment after the last key/typed change), which
is when a run of merged undo steps is closed.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QColorDialog,
    QDoubleSpinBox,
    QHBoxLayout,
    QPushButton,
    QScrollArea,
    QSlider,
    QWidget,
)

from models.imageio import linear_to_srgb, srgb_to_linear

COMMIT_DELAY_MS = 600


class ValueSlider(QWidget):
    """A float in [minimum, maximum] as slider + spin box."""

    edited = Signal(float)
    committed = Signal()

    def __init__(self, minimum: float, maximum: float, value: float = 0.0, decimals: int = 2,
                 steps: int = 1000, suffix: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.minimum, self.maximum, self.steps = float(minimum), float(maximum), int(steps)
        self.slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=self.steps)
        self.spin = QDoubleSpinBox(minimum=minimum, maximum=maximum, decimals=decimals, suffix=suffix)
        self.spin.setSingleStep((maximum - minimum) / 100.0)
        self.spin.setKeyboardTracking(False)
        self.spin.setMinimumWidth(72)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        self._commit_timer = QTimer(self, singleShot=True, interval=COMMIT_DELAY_MS)
        self._commit_timer.timeout.connect(self._commit_if_idle)
        self._value = float(value)
        self.set_value(value)
        self.slider.valueChanged.connect(self._slider_moved)
        self.slider.sliderReleased.connect(self._commit_now)
        self.spin.valueChanged.connect(self._spin_changed)

    def value(self) -> float:
        return self._value

    def set_value(self, value: float) -> None:
        """Show `value` without emitting anything (syncing from the model)."""
        self._value = min(max(float(value), self.minimum), self.maximum)
        for w in (self.slider, self.spin):
            w.blockSignals(True)
        self.slider.setValue(self._to_slider(self._value))
        self.spin.setValue(self._value)
        for w in (self.slider, self.spin):
            w.blockSignals(False)

    def set_by_user(self, value: float) -> None:
        """Change the value as a user would (edited, then committed)."""
        self.set_value(value)
        self.edited.emit(self._value)
        self._commit_now()

    def _to_slider(self, v: float) -> int:
        span = self.maximum - self.minimum
        return round((v - self.minimum) / span * self.steps) if span > 0 else 0

    def _slider_moved(self, position: int) -> None:
        v = self.minimum + (self.maximum - self.minimum) * position / self.steps
        self._value = v
        self.spin.blockSignals(True)
        self.spin.setValue(v)
        self.spin.blockSignals(False)
        self.edited.emit(v)
        if not self.slider.isSliderDown():
            self._commit_timer.start()

    def _spin_changed(self, v: float) -> None:
        self._value = float(v)
        self.slider.blockSignals(True)
        self.slider.setValue(self._to_slider(v))
        self.slider.blockSignals(False)
        self.edited.emit(self._value)
        self._commit_timer.start()

    def _commit_if_idle(self) -> None:
        if self.slider.isSliderDown():
            self._commit_timer.start()
        else:
            self.committed.emit()

    def _commit_now(self) -> None:
        self._commit_timer.stop()
        self.committed.emit()


class ColorButton(QPushButton):
    """A swatch that opens a colour dialog. Holds a *linear* RGB colour (the
    dialog shows it sRGB-encoded, as people pick colours)."""

    colorChosen = Signal(tuple)  # linear (r, g, b)

    def __init__(self, text: str = "", color: tuple[float, float, float] = (1.0, 1.0, 1.0), parent: QWidget | None = None):
        super().__init__(text, parent)
        self._color = tuple(float(c) for c in color)
        self.clicked.connect(self._choose)
        self._paint()

    def color(self) -> tuple[float, float, float]:
        return self._color  # type: ignore[return-value]

    def set_color(self, color: tuple[float, float, float]) -> None:
        self._color = tuple(float(c) for c in color)
        self._paint()

    def qcolor(self) -> QColor:
        srgb = linear_to_srgb(np.clip(np.asarray(self._color, np.float32), 0.0, 1.0))
        return QColor.fromRgbF(float(srgb[0]), float(srgb[1]), float(srgb[2]))

    def _paint(self) -> None:
        pix = QPixmap(16, 16)
        pix.fill(self.qcolor())
        self.setIcon(QIcon(pix))

    def _choose(self) -> None:
        chosen = QColorDialog.getColor(self.qcolor(), self, "Choose colour")
        if chosen.isValid():
            self.choose(chosen)

    def choose(self, qcolor: QColor) -> None:
        """Take a colour picked in the dialog (sRGB) as a user would."""
        linear = srgb_to_linear(np.asarray([qcolor.redF(), qcolor.greenF(), qcolor.blueF()], np.float32))
        self.set_color(tuple(float(c) for c in linear))
        self.colorChosen.emit(self._color)


def scrolled(inner: QWidget) -> QScrollArea:
    """`inner` in a frameless vertical scroll area as wide as `inner` needs
    (panels in docks: long forms scroll instead of forcing the dock's height)."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(inner)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    bar = scroll.verticalScrollBar().sizeHint().width()
    scroll.setMinimumWidth(inner.minimumSizeHint().width() + bar + 4)
    return scroll
