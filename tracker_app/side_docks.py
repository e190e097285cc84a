"""The docks on the window's right: the pose plots and the Live panel, tabbed together.

Owns where the docks sit (right, one tab each, the plots in front) and their show/hide
toggles, which the View and Live menus carry (Qt makes a toggle with each dock).
"""
from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QDockWidget, QMainWindow

from engine.expressions import BLENDSHAPE_NAMES
from tracker_app.actions import Slot
from tracker_app.cameras import camera_modes
from tracker_app.live_panel import LivePanel
from tracker_app.plots_dock import PlotsDock
from tracker_app.settings import LiveOptions
from tracker_app.viewer_model import ViewerModel

LIVE_TITLE = "Live and streaming"


def _toggle(dock: QDockWidget) -> QAction:
    """The dock's show/hide action (Qt makes it with the dock)."""
    action = dock.toggleViewAction()
    assert action is not None
    return action


class SideDocks:
    """``plots`` (a ``PlotsDock``) and ``live`` (holding ``panel``, a ``LivePanel``), added to ``window``."""

    def __init__(self, window: QMainWindow, model: ViewerModel, refresh_hz: float, live: LiveOptions,
                 cameras: list[tuple[int, str]]) -> None:
        self.plots = PlotsDock(model, refresh_hz, window)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.plots)
        self.panel = LivePanel(live, cameras, camera_modes, BLENDSHAPE_NAMES)
        self.live = QDockWidget(LIVE_TITLE, window)
        self.live.setObjectName("live")
        self.live.setWidget(self.panel)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.live)
        window.tabifyDockWidget(self.plots, self.live)
        self.plots.raise_()

    def toggles(self) -> dict[Slot, QAction]:
        """The menus' places for the docks' show/hide toggles."""
        return {Slot.PLOTS_DOCK: _toggle(self.plots), Slot.LIVE_DOCK: _toggle(self.live)}
