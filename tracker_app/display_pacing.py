"""Keeping the GUI thread responsive when painting is slow (software OpenGL, a busy machine).

With an OpenGL view in the window, every window update composes the whole window, so
what costs the GUI thread is the number of window updates, not their size. Two tools:

- ``Throttle``: a refresh (plots, status text) at most ``hz`` times a second, run while a
  frame is being shown so Qt paints it in that frame's window update, never in one of its own.
- ``SteadyLabel``: text that changes every frame without laying out the window again
  (a label that resizes lays out its parents, up to the main window, whose docks and
  toolbars then animate into place: a second window update per frame).
- ``FramePacer``: the worker sends frames no faster than the window paints them, with a
  rest after each window update as long as the update took, so input and timers always
  get their turn between two paints. It holds back the worker's frame credits: a file
  waits (every frame is still shown, in order), a camera drops frames at the source.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from PyQt6.QtCore import QObject, QTimer
from PyQt6.QtWidgets import QLabel

# A window update may take this share of the GUI thread's time at most (the rest after an
# update is as long as the update itself).
PAINT_DUTY = 0.5
# The longest rest: a single slow update (a resize, a first paint) must not hold frames up.
MAX_REST_S = 0.25


class Throttle:
    """Calls ``refresh`` at most ``hz`` times a second, in step with ``request()``.

    ``request()`` refreshes at once when the last refresh is old enough; otherwise the
    newest state is drawn by a trailing timer that every request restarts, so it fires only
    once requests stop coming.
    """

    def __init__(self, parent: QObject, hz: float, refresh: Callable[[], None]) -> None:
        self.period_s = 1.0 / hz
        self._refresh = refresh
        self._last = -float("inf")
        self._timer = QTimer(parent)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.refresh_now)

    def request(self) -> None:
        if time.monotonic() - self._last >= self.period_s:
            self.refresh_now()
        else:
            self._timer.start(max(1, int(self.period_s * 1000)))

    def refresh_now(self) -> None:
        self._timer.stop()
        self._last = time.monotonic()
        self._refresh()


class SteadyLabel(QLabel):
    """A label whose size only grows, and is fixed in between.

    Qt does not lay out the parents of a fixed-size widget when its contents change, so a
    new text costs a repaint of the label alone; the label grows (one layout) only when a
    text needs more room than any before.
    """

    def setText(self, text: str | None) -> None:
        super().setText(text)
        hint = self.sizeHint()
        width, height = max(hint.width(), self.minimumWidth()), max(hint.height(), self.minimumHeight())
        if (width, height) != (self.minimumWidth(), self.minimumHeight()) or self.minimumSize() != self.maximumSize():
            self.setFixedSize(width, height)


class FramePacer:
    """Gives a shown frame's credit back to the worker only after the window has painted
    it and then rested as long as the paint took.

    Frames are shown the moment they arrive (in order with the worker's other signals);
    what waits is the next one: the worker sends a frame only while it holds a credit.
    ``painted(seconds)`` is told how long each window update took.
    """

    def __init__(self, parent: QObject, give_back: Callable[[], None],
                 can_paint: Callable[[], bool]) -> None:
        self._give_back = give_back
        self._can_paint = can_paint  # False for a hidden or minimised window: no paint will come
        self._owed = 0
        self._painted = False  # a window update since the newest shown frame
        self._shown_at = 0.0
        self._rest_until = 0.0
        self._timer = QTimer(parent)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._release)

    def shown(self) -> None:
        self._owed += 1
        self._painted = False
        self._shown_at = time.monotonic()
        self._release()

    def painted(self, seconds: float) -> None:
        self._painted = True
        self._rest_until = time.monotonic() + min(MAX_REST_S, seconds * (1.0 - PAINT_DUTY) / PAINT_DUTY)
        self._release()

    def _release(self) -> None:
        if not self._owed:
            return
        now = time.monotonic()
        if self._painted or not self._can_paint():
            wait_s = self._rest_until - now
        else:  # not painted yet: wait for the paint, but never longer than a long rest
            wait_s = self._shown_at + MAX_REST_S - now
        if wait_s > 0:
            self._timer.start(max(1, int(wait_s * 1000) + 1))
            return
        self._timer.stop()
        for _ in range(self._owed):
            self._give_back()
        self._owed = 0
