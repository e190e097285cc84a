"""When a file's next packet is due, so the app plays it at its frame rate (over a speed)."""
from __future__ import annotations

import time

# Files: when the engine falls this far behind the clock, the clock restarts from now
# instead of hurrying to catch up (which would skip pacing for a while).
MAX_LAG_S = 0.25
# A frame due within this many seconds is processed now (timers are not that precise).
DUE_SLACK_S = 0.002


class PlaybackClock:
    """When a file's next packet is due: at the file's frame rate over ``speed``, counted from
    the last restart (so a pause, a seek or a new speed paces what follows from then on).

    Positions are seconds into the file (packets read / fps)."""

    def __init__(self) -> None:
        self.speed = 1.0  # playback rate relative to the file's fps
        self._started_at = 0.0  # time.monotonic() at the restart
        self._started_from = 0.0  # the position at the restart

    def restart(self, position: float) -> None:
        """Pace from now, the next packet being at ``position``."""
        self._started_at, self._started_from = time.monotonic(), position

    def set_speed(self, speed: float, position: float) -> None:
        self.speed = float(speed)
        self.restart(position)  # the frames to come are paced from now

    def due_in(self, position: float) -> float:
        """Seconds until the packet at ``position`` is due (0: now)."""
        wait = self._started_at + (position - self._started_from) / self.speed - time.monotonic()
        if wait > DUE_SLACK_S:
            return wait
        if wait < -MAX_LAG_S:
            self.restart(position)
        return 0.0
