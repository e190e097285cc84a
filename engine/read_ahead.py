"""The frames a seek near a file's end read ahead of the one it shows.

With a look-ahead smoother a frame comes out a few packets after it goes in; a seek near the
end reaches the end while tracking the frame it lands on, and the final flush releases the
frames after it too. Those wait here for Step (one) or Play (all), so a paused seek shows
exactly the frame sought."""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from engine.frames import FrameResult


class ReadAhead:
    """The results waiting, in order (iterate, ``len``); ``showing(index)`` marks a seek in progress."""

    def __init__(self) -> None:
        self._frames: deque[FrameResult] = deque()
        self._show_upto: int | None = None  # a seek is showing this frame: later ones wait

    def __len__(self) -> int:
        return len(self._frames)

    def __iter__(self) -> Iterator[FrameResult]:
        return iter(self._frames)

    def clear(self) -> None:
        self._frames.clear()

    @contextmanager
    def showing(self, index: int) -> Iterator[None]:
        """While a seek brings frame ``index`` to the screen, frames after it are kept back."""
        self._show_upto = index
        try:
            yield
        finally:
            self._show_upto = None

    def to_show(self, results: Iterable[FrameResult]) -> Iterator[FrameResult]:
        """The results to show now, in order; those after the frame a seek shows are kept back."""
        for result in results:
            if self._show_upto is not None and result.index > self._show_upto:
                self._frames.append(result)
            else:
                yield result

    def show(self, send: Callable[[FrameResult], None], all_of_them: bool) -> bool:
        """Send the first frame kept back (``all_of_them``: every one); False: none was kept."""
        if not self._frames:
            return False
        send(self._frames.popleft())
        while all_of_them and self._frames:
            send(self._frames.popleft())
        return True
