"""The capture thread's frame loop: one frame per timer tick, paced by the clock, held back by the GUI.

A single-shot timer in the worker thread drives the ``Playback`` one frame per tick, so the
requests queued into that thread (pause, seek, new source, settings) run between two frames.
A file is paced at its own frame rate (``Playback.due_in``) and every frame is processed.
While the GUI has not handled the frames already sent (``FrameCredits``), the loop waits
instead of queueing more; a camera meanwhile drops stale frames at its source.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

from PyQt6.QtCore import QObject, QTimer

from engine.playback import Playback

RETRY_MS = 4  # poll interval while the GUI is behind


class FrameCredits:
    """How many sent frames the GUI has not handled yet (thread-safe counter)."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self._lock = threading.Lock()
        self._in_flight = 0

    def available(self) -> bool:
        with self._lock:
            return self._in_flight < self.limit

    def take(self) -> None:
        with self._lock:
            self._in_flight += 1

    def give_back(self) -> None:
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def reset(self) -> None:
        with self._lock:
            self._in_flight = 0


class FrameLoop:
    """Advances ``playback()`` (None: nothing loaded) while it plays, until ``stop_requested`` is set."""

    def __init__(self, playback: Callable[[], Playback | None], credits: FrameCredits,
                 stop_requested: threading.Event) -> None:
        self._playback = playback
        self._credits = credits
        self._stop_requested = stop_requested
        self._timer: QTimer | None = None  # made in the thread it runs in (start)

    def start(self, parent: QObject) -> None:
        """Create the timer; call it in the thread of ``parent``, which owns it."""
        self._timer = QTimer(parent)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._tick)

    def schedule(self, delay_ms: float) -> None:
        """Tick in ``delay_ms`` (0: once the requests already queued have run)."""
        if self._timer is not None:
            self._timer.start(max(0, int(delay_ms)))

    def stop(self) -> None:
        """No tick until the next ``schedule``."""
        if self._timer is not None:
            self._timer.stop()

    def _tick(self) -> None:
        playback = self._playback()
        if self._stop_requested.is_set() or playback is None or not playback.playing:
            return
        if not self._credits.available():
            self.schedule(RETRY_MS)  # the GUI is behind: wait (a camera drops meanwhile)
            return
        wait_s = playback.due_in()
        if wait_s > 0:
            self.schedule(wait_s * 1000)
            return
        playback.advance()
        if playback.playing:
            self.schedule(0)
