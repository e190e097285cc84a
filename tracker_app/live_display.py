"""What the followed face's live values and the Live state put on screen, frame after frame.

Owns the per-frame update of the readout over the view (pose relative to neutral, latency)
and of the Live panel's weight bars, at the status bar's pace while a source plays (each
change costs a window update) and at once when the values change while paused; and the
mirror and streaming state shown by the view and the panel.
"""
from __future__ import annotations

from engine.vmc import LiveFrame
from tracker_app.gl_view import GLView
from tracker_app.live_panel import LivePanel
from tracker_app.status_bar import StatusBar
from tracker_app.viewer_model import PlayState, ViewerModel, readout_text


class LiveDisplay:
    """Observes ``model`` (and ``status.refreshed`` for the pace); draws on ``view`` and ``panel``."""

    def __init__(self, model: ViewerModel, view: GLView, panel: LivePanel, status: StatusBar) -> None:
        self.model, self.view, self.panel = model, view, panel
        model.state_changed.connect(self._on_state_changed)
        model.live_changed.connect(lambda live: None if model.playing else self.show(live))
        status.refreshed.connect(lambda _frame: self.show(model.live))

    def show(self, live: LiveFrame | None) -> None:
        """The readout on the view and the weight bars (None: clears both)."""
        self.panel.bars.set_weights(None if live is None else live.weights)
        self.view.set_readout(readout_text(self.model, live))

    def _on_state_changed(self, state: PlayState) -> None:
        self.view.set_mirror(state.mirror)
        self.panel.show_state(state.mirror, state.streaming)
