"""The live loss plot (pyqtgraph): the total loss and each term on a log
axis, PSNR below on a linked step axis; mouse zoom and pan, "Fit view"
resets. Snapshots are stored as they arrive and drawn at most ~10 times a
second (a timer redraws only when something new came).

`LossPanel` puts the plot beside the per-photo table and compare view
(app.panels.view_compare) in one dock.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from models.fit_progress import FitProgress

REDRAW_MS = 100
LOG_FLOOR = 1e-12
TOTAL = "total"


class LossPlot(QWidget):
    """Loss terms and PSNR against the fit step."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("lossPlot")
        self.steps: list[float] = []  # fit steps, and x + 0.5 where a new metallic start began
        self.values: dict[str, list[float]] = {TOTAL: []}
        self.psnr: list[float] = []
        self.start = 0  # which metallic start of the fit the points belong to
        self.start_lines: list[pg.InfiniteLine] = []
        self.redraws = 0
        self._dirty = False

        self.view = pg.GraphicsLayoutWidget()
        self.view.setMinimumHeight(160)
        self.loss_plot = self.view.addPlot(row=0, col=0)
        self.loss_plot.setLabel("left", "loss")
        self.loss_plot.getAxis("left").enableAutoSIPrefix(False)
        self.loss_plot.getAxis("bottom").setStyle(showValues=False)
        self.loss_plot.setLogMode(x=False, y=True)
        self.loss_plot.showGrid(x=True, y=True, alpha=0.25)
        self.legend = self.loss_plot.addLegend(offset=(-5, 5), labelTextSize="8pt", colCount=2,
                                               brush=pg.mkBrush(0, 0, 0, 170), verSpacing=-6)
        self.psnr_plot = self.view.addPlot(row=1, col=0)
        self.psnr_plot.setLabel("left", "PSNR (dB)")
        self.psnr_plot.getAxis("left").enableAutoSIPrefix(False)
        self.psnr_plot.setLabel("bottom", "step")
        self.psnr_plot.showGrid(x=True, y=True, alpha=0.25)
        self.psnr_plot.setXLink(self.loss_plot)
        self.view.ci.layout.setRowStretchFactor(0, 3)
        self.view.ci.layout.setRowStretchFactor(1, 2)
        self.curves: dict[str, pg.PlotDataItem] = {
            TOTAL: self.loss_plot.plot(name=TOTAL, pen=pg.mkPen("w", width=2), connect="finite")
        }
        self.loss_plot.setRange(xRange=(0, 100), yRange=(-4, 0), padding=0)  # until data arrives
        self.psnr_plot.setRange(yRange=(10, 40), padding=0)
        self.psnr_curve = self.psnr_plot.plot(pen=pg.mkPen((90, 200, 255), width=2), connect="finite")

        self.log_check = QCheckBox("Log scale")
        self.log_check.setChecked(True)
        self.log_check.toggled.connect(lambda on: self.loss_plot.setLogMode(x=False, y=on))
        self.follow_check = QCheckBox("Follow")
        self.follow_check.setChecked(True)
        self.follow_check.setToolTip("Keep the whole fit in view as points arrive (zooming or panning turns it off)")
        self.follow_check.toggled.connect(self._follow_toggled)
        reset = QPushButton("Fit view")
        reset.clicked.connect(self.fit_view)
        bar = QHBoxLayout()
        bar.addWidget(self.log_check)
        bar.addWidget(self.follow_check)
        bar.addStretch(1)
        bar.addWidget(reset)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.view)
        self.loss_plot.vb.sigRangeChangedManually.connect(lambda *_: self.follow_check.setChecked(False))
        self.psnr_plot.vb.sigRangeChangedManually.connect(lambda *_: self.follow_check.setChecked(False))

        self.timer = QTimer(self)
        self.timer.setInterval(REDRAW_MS)
        self.timer.timeout.connect(self._redraw)
        self.timer.start()

    # ---- data ---------------------------------------------------------------------------
    @property
    def point_count(self) -> int:
        """Steps recorded so far (the breaks between starts not counted)."""
        return len(self.steps) - len(self.start_lines) // 2

    def terms(self) -> list[str]:
        return [t for t in self.values if t != TOTAL]

    def clear(self) -> None:
        self.steps.clear()
        self.values = {TOTAL: []}
        self.psnr.clear()
        for name in list(self.curves):
            if name != TOTAL:
                self.legend.removeItem(self.curves[name])
                self.loss_plot.removeItem(self.curves.pop(name))
        self.curves[TOTAL].setData([], [])
        self.psnr_curve.setData([], [])
        for line in self.start_lines:
            line.getViewBox().removeItem(line)
        self.start_lines.clear()
        self.start = 0
        self.follow_check.setChecked(True)
        self._dirty = False

    def add_snapshots(self, batch: tuple[FitProgress, ...] | list[FitProgress]) -> None:
        """Record snapshots (a repeated step, e.g. a pause, replaces its point)."""
        for p in batch:
            if p.step <= 0 and not p.losses:
                continue
            if self.steps and p.step < self.steps[-1]:  # a new fit started without clear()
                self.clear()
            replace_last = bool(self.steps) and p.step == self.steps[-1]
            if not replace_last:
                self.steps.append(int(p.step))
                for series in self.values.values():
                    series.append(math.nan)
                self.psnr.append(math.nan)
            for name, value in p.losses.items():
                if name not in self.values:
                    self.values[name] = [math.nan] * len(self.steps)
                    self._add_curve(name)
                self.values[name][-1] = float(value)
            self.values[TOTAL][-1] = float(p.total)
            self.psnr[-1] = float(p.psnr)
            if p.starts > 1 and p.start != self.start:
                self._mark_start(p.step + 0.5, p.start)
        self._dirty = True

    def _mark_start(self, x: float, start: int) -> None:
        """The fit began again from another starting metallic after step x,
        or an earlier start, the best, went on there: break the curves there
        and draw a labelled line."""
        label = f"start {start + 1}" + (" goes on" if start < self.start else "")
        self.start = start
        self.steps.append(x)
        for series in self.values.values():
            series.append(math.nan)
        self.psnr.append(math.nan)
        for plot, label in ((self.loss_plot, label), (self.psnr_plot, None)):
            line = pg.InfiniteLine(pos=x, angle=90, pen=pg.mkPen((200, 200, 200), width=1, style=Qt.PenStyle.DashLine),
                                   label=label, labelOpts={"position": 0.9, "color": (220, 220, 220)})
            plot.addItem(line)
            self.start_lines.append(line)

    def _add_curve(self, name: str) -> None:
        color = pg.intColor(len(self.curves) - 1, hues=9, values=1, maxValue=255, minValue=150)
        self.curves[name] = self.loss_plot.plot(name=name, pen=pg.mkPen(color, width=1), connect="finite")

    # ---- drawing --------------------------------------------------------------------------
    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        x = np.asarray(self.steps, np.float64)
        for name, series in self.values.items():
            y = np.asarray(series, np.float64)
            y = np.where(np.isfinite(y), np.maximum(y, LOG_FLOOR), np.nan)
            self.curves[name].setData(x, y)
        self.psnr_curve.setData(x, np.asarray(self.psnr, np.float64))
        if self.follow_check.isChecked():
            self.fit_view(keep_follow=True)
        self.redraws += 1

    def flush(self) -> None:
        """Draw now (tests, screenshots)."""
        self._redraw()

    def fit_view(self, *_: object, keep_follow: bool = False) -> None:
        self.loss_plot.enableAutoRange()
        self.psnr_plot.enableAutoRange()
        if not keep_follow:
            self.follow_check.setChecked(True)

    def _follow_toggled(self, on: bool) -> None:
        if on:
            self._dirty = True


class LossPanel(QTabWidget):
    """The Loss dock: the plot, and the photos tab (table + compare)."""

    def __init__(self, compare: QWidget | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("lossPanel")
        self.plot = LossPlot()
        self.addTab(self.plot, "Loss")
        self.compare = compare
        if compare is not None:
            self.addTab(compare, "Photos")

    def show_photos(self) -> None:
        if self.compare is not None:
            self.setCurrentWidget(self.compare)
