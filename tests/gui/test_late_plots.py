"""The plots dock is filled after the window's first frame (pyqtgraph and the plots cost
0.2 s of start-up), or a second after the window is shown when no frame comes."""
from __future__ import annotations

import numpy as np
import pytest

from tests.support.gui import wait_until

pytestmark = pytest.mark.gui


def test_without_a_source_the_plots_come_a_second_after_the_window(window) -> None:
    assert not window.plots_built  # the window is shown, its event loop has not run yet
    wait_until(lambda: window.plots_built, "the plots", timeout=10)
    assert window.plots_dock.widget() is window.plots


def test_plots_built_late_show_what_was_shown_before_them(window, media_dir) -> None:
    from tracker_app.plots import PosePlots

    window.open_source(str(media_dir / "emma.jpg"))
    # A single image: one frame, then the source ends and nothing changes any more.
    wait_until(lambda: window.model.frame is not None and not window.model.playing
               and "single image" in window.statusBar().currentMessage(), "the image's frame")
    shown = int(np.isfinite(window.model.history.arrays()["yaw"]).sum())
    assert shown == 1
    # Only what the plots find in the model at their construction can be drawn.
    late = PosePlots(window.model, window.gui_config.refresh_hz)
    late.resize(300, 400)
    late.show()
    try:
        wait_until(lambda: late.redraws >= 1, "the late plots' first draw")
        assert int(np.isfinite(late.plotted("yaw")).sum()) == shown
        assert late.readout.text().startswith(f"frame {window.model.frame.result.index}: yaw")
    finally:
        late.close()
