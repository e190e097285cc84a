"""Live plots (pyqtgraph): the curves of ``viewer_model.SERIES`` (yaw, pitch and roll of the
followed face, the openness of its eyes, engine time per frame), in three stacked plots.

Files plot the frames around the current one (kept per frame index, so a seek back
shows what was computed) with a cursor at the current frame; a readout above the
plots gives the current frame's values, which is all a single image has.
Observes the ViewerModel's history; redraws at most ``refresh_hz`` times a second
(frames arrive faster, and a redraw per frame would cost the GUI thread more than
drawing the video), in the same window update as a frame (see display_pacing).
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QShowEvent
from PyQt6.QtWidgets import QGraphicsItem, QVBoxLayout, QWidget

from tracker_app.display_frame import DisplayFrame
from tracker_app.display_pacing import SteadyLabel, Throttle
from tracker_app.viewer_model import SERIES, Plot, SourceInfo, ViewerModel, frame_row

BUDGET_PEN = (150, 150, 150)
CURSOR_PEN = (235, 235, 235)
MIN_TIMING_TOP_MS = 10.0
OPENNESS_RANGE = (0.0, 1.4)  # 0 closed, 1 the person's neutral opening, a little room for wide open


class PosePlots(QWidget):
    """Three stacked plots (angles, eye openness, engine time) sharing the time axis: seconds
    before the newest frame."""

    def __init__(self, model: ViewerModel, refresh_hz: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        pg.setConfigOptions(antialias=False, background=(25, 25, 28), foreground=(200, 200, 200))
        self.readout = SteadyLabel("")
        self.readout.setTextFormat(Qt.TextFormat.PlainText)
        self.readout.setMinimumHeight(2 * self.readout.fontMetrics().lineSpacing() + 2)  # two lines from the start
        # Both plots in one view and scene: one repaint for the two.
        self.canvas = pg.GraphicsLayoutWidget()
        self.angles = self.canvas.addPlot(row=0, col=0)
        self.angles.setLabel("left", "angle", units="°")
        self.angles.addLegend(offset=(5, 5))
        self.angles.showGrid(x=True, y=True, alpha=0.25)
        self.angles.setXRange(*model.history.window(), padding=0)
        self.angles.setYRange(-60, 60)
        self.angles.setMouseEnabled(x=False, y=True)
        self.eyes = self.canvas.addPlot(row=1, col=0)
        self.eyes.setLabel("left", "eyes open")
        self.eyes.addLegend(offset=(5, 5))
        self.eyes.showGrid(x=True, y=True, alpha=0.25)
        self.eyes.setYRange(*OPENNESS_RANGE, padding=0)
        self.eyes.setXLink(self.angles)
        self.eyes.setMouseEnabled(x=False, y=True)
        self.timing = self.canvas.addPlot(row=2, col=0)
        self.canvas.ci.layout.setRowStretchFactor(0, 3)
        self.canvas.ci.layout.setRowStretchFactor(1, 2)
        self.canvas.ci.layout.setRowStretchFactor(2, 2)
        self.timing.setLabel("left", "engine", units="ms")
        self.timing.getAxis("left").enableAutoSIPrefix(False)  # "ms", never "kms" after a slow frame
        self.timing.setLabel("bottom", "time from the current frame", units="s")
        self.timing.showGrid(x=True, y=True, alpha=0.25)
        self.timing.setXLink(self.angles)
        self.timing.setMouseEnabled(x=False, y=True)
        # y range set by _fit_timing_range in steps: autorange would re-layout the axis
        # labels on every redraw, the most expensive part of a redraw.
        self._timing_top = 0.0
        plots = {Plot.ANGLES: self.angles, Plot.EYES: self.eyes, Plot.TIMING: self.timing}
        self.curves = {s.name: plots[s.plot].plot(name=s.name if s.plot is not Plot.TIMING else None,
                                                  pen=pg.mkPen(s.colour, width=2), connect="finite")
                       for s in SERIES}
        # The frame period of the source: above this line the engine cannot keep up.
        self.budget = pg.InfiniteLine(angle=0, pen=pg.mkPen(BUDGET_PEN, style=pg.QtCore.Qt.PenStyle.DashLine),
                                      label="", labelOpts={"position": 0.02, "anchors": [(0, 1), (0, 1)],
                                                               "color": BUDGET_PEN})
        self.budget.setVisible(False)
        self.timing.addItem(self.budget)
        # The current frame: the newest one live, the one shown for files (after a seek back,
        # the frames computed before stay to its right).
        self.cursors = [pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen(CURSOR_PEN, width=1))
                        for _plot in (self.angles, self.eyes, self.timing)]
        for plot, cursor in zip((self.angles, self.eyes, self.timing), self.cursors):
            plot.addItem(cursor)
        # Axes, tick labels and grids change only with a range: drawn once into a pixmap
        # (text was most of a redraw's cost).
        for plot in (self.angles, self.eyes, self.timing):
            for name in ("left", "bottom"):
                plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.readout)
        layout.addWidget(self.canvas)
        self.redraws = 0
        self._stale = False
        self._refresh = Throttle(self, refresh_hz, self._redraw)
        model.frame_changed.connect(self._on_frame)
        model.source_changed.connect(self._on_source)
        if model.source is not None:  # built after frames came (the window builds the plots late)
            self._on_source(model.source)

    def _on_frame(self, _frame: DisplayFrame | None) -> None:
        self._mark_stale()

    def _mark_stale(self) -> None:
        self._stale = True
        self._refresh.request()

    def _on_source(self, source: SourceInfo | None) -> None:
        if source is not None and source.fps > 0:
            budget_ms = 1000.0 / source.fps
            self.budget.setValue(budget_ms)
            self.budget.label.setFormat(f"frame budget {budget_ms:.0f} ms ({source.fps:g} fps)")
            self.budget.setVisible(True)
        self.angles.setXRange(*self.model.history.window(), padding=0)
        if source is None:
            self.readout.setText("")
        self._timing_top = 0.0
        self._mark_stale()

    def showEvent(self, event: QShowEvent | None) -> None:
        super().showEvent(event)
        if self._stale:  # frames came while the plots were hidden
            self._redraw()

    def _fit_timing_range(self, frame_ms: np.ndarray) -> None:
        """Top of the frame-time axis: the frame period or the data, rounded up to 1-2-5 steps."""
        finite = frame_ms[np.isfinite(frame_ms)]
        need = max(MIN_TIMING_TOP_MS, float(finite.max()) if finite.size else 0.0)
        if self.budget.isVisible():
            need = max(need, float(self.budget.value()) * 1.1)
        top = _nice_ceiling(need * 1.1)
        if top != self._timing_top:
            self._timing_top = top
            self.timing.setYRange(0, top, padding=0)

    def _redraw(self) -> None:
        if not self._stale or not self.isVisible():
            return
        self._stale = False
        data = self.model.history.arrays()
        t = data["t"]
        for name, curve in self.curves.items():
            y = data[name]
            # A line needs two points: a lone value (a single image) is drawn as a dot.
            lone = int(np.isfinite(y).sum()) == 1
            curve.setData(t, y, symbol="o" if lone else None, symbolSize=7,
                          symbolBrush=curve.opts["pen"].color(), symbolPen=None)
        self._fit_timing_range(data["frame_ms"])
        self.readout.setText(self._readout_text())
        self.redraws += 1

    def _readout_text(self) -> str:
        frame = self.model.frame
        if frame is None:
            return ""
        row = dict(zip(self.model.history.FIELDS, frame_row(frame)))
        yaw, pitch, roll, ms = row["yaw"], row["pitch"], row["roll"], row["frame_ms"]
        where = f"frame {frame.result.index}"
        if not np.isfinite(yaw):
            return f"{where}: no face   engine {ms:.1f} ms"
        eyes = "  ".join(f"{name} {row[name]:.2f}" for name in ("right eye", "left eye") if np.isfinite(row[name]))
        return (f"{where}: yaw {yaw:+.1f}°  pitch {pitch:+.1f}°  roll {roll:+.1f}°\n"
                f"{eyes + '   ' if eyes else ''}engine {ms:.1f} ms")

    def plotted(self, name: str) -> np.ndarray:
        """The y values a curve currently shows (for tests and the screenshot script)."""
        _x, y = self.curves[name].getData()
        return np.asarray(y if y is not None else [], dtype=np.float64)


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 x 10^k that is >= value."""
    if value <= 0:
        return 1.0
    exponent = np.floor(np.log10(value))
    for step in (1, 2, 5, 10):
        if step * 10 ** exponent >= value:
            return float(step * 10 ** exponent)
    return float(10 ** (exponent + 1))
