"""A second Ctrl-C that aborts at once, but never in the middle of one frame.

The command line turns the first Ctrl-C (or SIGTERM) into a flag checked between frames
and the second into an exception (``KeyboardInterrupt``) raised by its signal handler,
wherever the main thread is. Raised between the table's row and the video's frame of one
frame, or between the last frame and the final run.json, it left files that disagree (a
run.json counting 95 frames over a table and a video of 96). So the session writes each
frame to its sinks, and ends a run, inside ``deferred_interrupts()``; a handler calls
``interrupt(exc)``, which raises at once outside such a section, and at its end inside
one (a frame's writes take milliseconds). Tracking a frame is inside too: raised after
the smoother released a frame and before its writes, it dropped that frame from every
file while the frames still held were flushed after it, leaving a hole in the table.

Only the main thread is concerned: Python runs signal handlers there, and nowhere else
can the exception land.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_depth = 0  # nesting of deferred_interrupts() on the main thread
_pending: BaseException | None = None  # the interrupt that came meanwhile


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Interrupts passed to ``interrupt`` while inside wait for the end of the section."""
    global _depth, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth += 1
    try:
        yield
    except BaseException:
        _pending = None if _depth == 1 else _pending  # an exception ends the section anyway
        raise
    finally:
        _depth -= 1
    if _depth == 0 and _pending is not None:
        pending, _pending = _pending, None
        raise pending


def interrupt(exc: BaseException) -> None:
    """For a signal handler: raise ``exc`` now, or at the end of the current deferred section."""
    global _pending
    if _depth > 0 and threading.current_thread() is threading.main_thread():
        _pending = _pending or exc
        return
    raise exc
