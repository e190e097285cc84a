"""The plots dock: builds the pose plots (pyqtgraph) only when they are first needed.

Owns when the plots come into being: pyqtgraph costs 0.2 s of start-up, so the dock
starts empty and the window asks for ``build`` after its first frame is on screen
(or a second after it is shown without a frame).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6.QtWidgets import QDockWidget, QWidget

from tracker_app.viewer_model import ViewerModel

if TYPE_CHECKING:
    from tracker_app.plots import PosePlots

TITLE = "Pose, eyes and frame time"


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
