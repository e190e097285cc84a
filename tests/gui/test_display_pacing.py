"""The GUI's pacing tools: throttled refreshes, credits handed back at the paint's pace, steady labels."""
from __future__ import annotations

import time

import pytest
from PyQt6.QtCore import QObject
from PyQt6.QtWidgets import QHBoxLayout, QWidget

from tests.support.gui import wait_until
from tracker_app.display_pacing import MAX_REST_S, FramePacer, SteadyLabel, Throttle

pytestmark = pytest.mark.gui


def test_throttle_refreshes_in_step_with_requests_and_once_after_they_stop(qapp) -> None:
    owner = QObject()
    refreshed: list[tuple[float, int]] = []
    requested: list[float] = []
    state = [0]
    throttle = Throttle(owner, hz=10.0, refresh=lambda: refreshed.append((time.monotonic(), state[0])))

    def request() -> None:
        state[0] += 1
        requested.append(time.monotonic())
        throttle.request()

    start = time.monotonic()
    while time.monotonic() - start < 0.5:  # a request every ~10 ms for half a second
        request()
        qapp.processEvents()
        time.sleep(0.01)
    # The last request must come within a period of a refresh, so that it waits for the
    # trailing one (on a busy machine the loop's last request may have refreshed at once).
    for _ in range(50):
        if refreshed[-1][1] != state[0]:
            break
        request()
    during = len(refreshed)
    assert refreshed[0][1] == 1  # the first request refreshes at once
    assert refreshed[-1][1] != state[0]  # the newest request is waiting
    assert during <= 1 + (requested[-1] - requested[0]) / throttle.period_s  # ~10 a second, not 50
    gaps = [b[0] - a[0] for a, b in zip(refreshed, refreshed[1:])]
    assert min(gaps) >= throttle.period_s - 1e-3
    # ... and in step with the requests: the first request a period after a refresh refreshes
    # (checked against the requests' own times, not the half-second, whatever the machine's speed).
    slowest_request = max(b - a for a, b in zip(requested, requested[1:]))
    assert max(gaps) <= throttle.period_s + slowest_request + 0.02, (gaps, slowest_request)
    # Requests stop: one trailing refresh draws the newest state, then nothing more.
    wait_until(lambda: refreshed[-1][1] == state[0], "the trailing refresh")
    time.sleep(0.3)
    qapp.processEvents()
    assert len(refreshed) == during + 1


def test_frame_credits_come_back_after_the_paint_and_its_rest(qapp) -> None:
    owner = QObject()
    given: list[float] = []
    visible = [True]
    pacer = FramePacer(owner, give_back=lambda: given.append(time.monotonic()), can_paint=lambda: visible[0])
    pacer.shown()
    pacer.shown()  # two frames in flight, one paint shows the newest
    qapp.processEvents()
    assert given == []  # not painted yet
    painted_at = time.monotonic()
    pacer.painted(0.08)  # a slow 80 ms window update: 80 ms of rest follow it
    wait_until(lambda: len(given) == 2, "the credits")
    assert given[0] - painted_at >= 0.08 - 0.002
    # A window update that never comes (a minimised window) holds a credit a short while only.
    visible[0] = False
    pacer.shown()
    wait_until(lambda: len(given) == 3, "the credit of a frame no paint will show")
    assert given[2] - given[1] < MAX_REST_S


def test_steady_label_grows_but_never_shrinks_or_relayouts(qapp) -> None:
    parent = QWidget()
    layout = QHBoxLayout(parent)
    label = SteadyLabel("")
    layout.addWidget(label)
    parent.show()
    label.setText("12.3 fps")
    short = label.minimumSize()
    label.setText("123.4 fps  latency 120 ms  dropped 3")
    wide = label.minimumSize()
    assert wide.width() > short.width()
    label.setText("1.0 fps")
    assert label.minimumSize() == wide and label.maximumSize() == wide  # fixed: no layout on change
    parent.close()
