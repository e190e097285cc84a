"""The plots dock: builds the pose plots (pyqtgraph) only when they are first needed, and gives
way to the video in a narrow window.

Owns when the plots come into being: pyqtgraph costs 0.2 s of start-up, so the dock
starts empty and is built after the window's first frame is on screen (or a second after
the window is shown without a frame). Owns its width too: the video area has priority.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import QDockWidget, QMainWindow, QWidget

from tracker_app.viewer_model import ViewerModel

if TYPE_CHECKING:
    from tracker_app.plots import PosePlots

TITLE = "Pose, eyes and frame time"
PLOTS_WIDTH = 380  # px, initial width of the plots dock
PLOTS_LATEST_MS = 1000  # the plots are built this long after the window is shown, at the latest
PLOTS_MAX_SHARE = 0.3  # the plots dock never takes more of the window's width: the video comes first


class PlotsDock(QDockWidget):
    def __init__(self, model: ViewerModel, refresh_hz: float, parent: QWidget | None = None) -> None:
        super().__init__(TITLE, parent)
        self.setObjectName("plots")
        self.setWidget(QWidget())
        self.model, self.refresh_hz = model, refresh_hz
        self._plots: PosePlots | None = None

    @property
    def built(self) -> bool:
        return self._plots is not None

    def build(self) -> PosePlots:
        """The plots, made on the first call."""
        if self._plots is None:
            from tracker_app.plots import PosePlots

            self._plots = PosePlots(self.model, self.refresh_hz)
            self.setWidget(self._plots)
        return self._plots

    def window_shown(self) -> None:
        """The window is on screen: build the plots a while later if no frame comes to wait for
        (no source, or it failed to open)."""
        if not self.built:
            QTimer.singleShot(PLOTS_LATEST_MS, self.build)

    def window_painted(self) -> None:
        """The window was painted: once that painted a frame, build the plots (next in the event loop)."""
        if not self.built and self.model.frame is not None:
            QTimer.singleShot(0, self.build)

    def set_initial_width(self, window: QMainWindow) -> None:
        window.resizeDocks([self], [PLOTS_WIDTH], Qt.Orientation.Horizontal)

    def fit(self, window: QMainWindow, window_width: int) -> None:
        """In a narrow window the plots give up width first, and get it back (up to their
        initial width) when the window grows again."""
        if self.isVisible() and not self.isFloating():
            want = min(PLOTS_WIDTH, int(window_width * PLOTS_MAX_SHARE))
            if self.width() != want:
                window.resizeDocks([self], [want], Qt.Orientation.Horizontal)
