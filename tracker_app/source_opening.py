"""Opening a source for the capture worker: what a spec names, what the GUI is told, the true length.

``SourceSpec`` is what the GUI asks to open; ``source_info`` is what the GUI learns before the
first frame. A file's true length is counted in a thread of the source's own
(``VideoSource.start_counting``); ``FrameCountRelay`` hands the count to the worker thread
through a queued signal and drops the count of a source closed meanwhile.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from PyQt6.QtCore import QObject, pyqtSignal, pyqtSlot

from engine.video_source import VideoSource
from tracker_app.viewer_model import SourceInfo

# What can be opened: a path or camera index for engine.video_source.open_source, or a
# factory returning a ready VideoSource (called in the worker thread).
SourceSpec = Union[str, int, Path, Callable[[], VideoSource]]


def is_camera(spec: SourceSpec) -> bool:
    """A camera index (an int, or a string of digits as typed in the source picker)."""
    return isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit())


def opener(spec: SourceSpec) -> Callable[[], VideoSource]:
    """Opens ``spec`` (the Playback calls it again to reopen a file)."""
    from engine.video_source import open_source

    return spec if callable(spec) else functools.partial(open_source, spec)


def source_info(spec: SourceSpec, source: VideoSource) -> SourceInfo:
    """What the GUI is told of ``source`` as soon as it is open."""
    width, height = source.frame_size
    return SourceInfo(spec="<custom>" if callable(spec) else str(spec), description=source.description,
                      fps=float(source.fps), frame_size=(int(width), int(height)), is_live=bool(source.is_live),
                      frame_count=source.frame_count, frame_count_exact=source.frame_count_exact)


@dataclass(frozen=True)
class _Counted:
    """A file's true length, from the source's counting thread."""

    source: VideoSource
    frames: int


class FrameCountRelay(QObject):
    """Calls ``found(frames)`` in its own thread (the worker's: make it the worker's child)
    when the source counted is still ``current()``."""

    _counted = pyqtSignal(_Counted)

    def __init__(self, current: Callable[[], VideoSource | None], found: Callable[[int], None],
                 parent: QObject) -> None:
        super().__init__(parent)
        self._current = current
        self._found = found
        self._counted.connect(self._on_counted)  # queued: emitted in the counting thread

    def count(self, source: VideoSource) -> None:
        """Count ``source``'s frames in the background (files; other sources have nothing to count)."""
        source.start_counting(functools.partial(self._report, source))

    def _report(self, source: VideoSource, frames: int) -> None:
        """Called in the counting thread: hand over to this object's thread."""
        try:
            self._counted.emit(_Counted(source, int(frames)))
        except RuntimeError:  # the worker is gone (window closed meanwhile)
            pass

    @pyqtSlot(_Counted)
    def _on_counted(self, counted: _Counted) -> None:
        if counted.source is self._current() and counted.frames > 0:
            self._found(counted.frames)
