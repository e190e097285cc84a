"""An OpenCV capture of a local video file that knows which frame it decodes next.

``open_file_capture`` opens a file for reading or counting. ``FileCapture`` is the reading
capture of ``VideoFileSource``: it keeps the index of the next frame (``pos``) and has the
ways to leave exactly frame ``k`` grabbed (decoded, not yet converted) that the source's
``seek`` chooses between: decoding forward, and OpenCV's seek with its landing checked.

OpenCV's ``CAP_PROP_POS_FRAMES`` seek converts the frame number to a time and can land on
another frame (variable frame rate, odd timestamps, some codecs), so a landing is identified
by the timestamp (``CAP_PROP_POS_MSEC``) of the frame it decoded, looked up in the
timestamps a count found (``FrameCounter.index_at``). Landing early: decode forward to
``k``; landing late: seek again further back (``SEEK_BACKOFF``).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np

# Seeks this few frames ahead of the current position decode forward instead of seeking.
SHORT_HOP = 12
# How far before the target a retried seek aims when OpenCV landed after it.
SEEK_BACKOFF = (8, 64, 512)


def open_file_capture(path: Path, decoder_threads: int | None = None) -> Any:
    """An OpenCV capture of a local file, without FFmpeg's 30 s read timeout: that timeout is
    for network streams, and on a loaded machine a starved reader thread hit it mid-file, so
    the file seemed to end early (a short frame count, a seek that never landed)."""
    import cv2

    params = [cv2.CAP_PROP_READ_TIMEOUT_MSEC, 0]  # 0: no timeout
    if decoder_threads is not None:
        params += [cv2.CAP_PROP_N_THREADS, decoder_threads]
    # CAP_ANY, not CAP_FFMPEG: naming the backend makes OpenCV print a [ WARN ] line for a
    # file FFmpeg cannot open; the caller reports that in one line itself.
    return cv2.VideoCapture(str(path), cv2.CAP_ANY, params)


class FileCapture:
    """The capture a file is read through, and ``pos``, the index of the frame it decodes
    next. ``cap`` is the OpenCV capture (None once released); the caller checks ``is_opened``
    (and ``reopen()``'s answer) and reports a failure in its own words."""

    def __init__(self, path: Path, decoder_threads: int | None = None) -> None:
        self.path = path
        self.decoder_threads = decoder_threads
        self.cap: Any = open_file_capture(path, decoder_threads)
        self.pos = 0

    @property
    def released(self) -> bool:
        return self.cap is None

    @property
    def is_opened(self) -> bool:
        return self.cap is not None and bool(self.cap.isOpened())

    def read(self, buffer: np.ndarray | None) -> np.ndarray | None:
        """The next frame, decoded into ``buffer`` when one is given; None at the end."""
        ok, frame = self.cap.read(buffer) if buffer is not None else self.cap.read()
        if not ok or frame is None:
            return None
        self.pos += 1
        return cast("np.ndarray", frame)

    def retrieve(self) -> np.ndarray | None:
        """The frame grabbed last, decoded; None when it cannot be."""
        ok, frame = self.cap.retrieve()
        return cast("np.ndarray | None", frame if ok else None)

    def ms(self) -> float:
        """The decoder's timestamp (ms) of the frame it decoded last."""
        import cv2

        return float(self.cap.get(cv2.CAP_PROP_POS_MSEC))

    def hop_to(self, k: int) -> bool:
        """Decode forward to frame ``k`` when it is at most ``SHORT_HOP`` frames ahead (cheaper
        than a seek); True with frame ``k`` grabbed."""
        return self.pos <= k < self.pos + SHORT_HOP and self.grab_through(k)

    def grab_through(self, k: int) -> bool:
        """Decode forward (no colour conversion) until the frame last grabbed is ``k``."""
        while self.pos <= k:
            if not self.cap.grab():
                return False
            self.pos += 1
        return True

    def seek_checked(self, k: int, index_at: Callable[[float], int | None]) -> bool:
        """OpenCV seek with its landing checked; True with frame ``k`` grabbed. ``index_at``
        tells which frame has a given timestamp (ms), or None."""
        import cv2

        for back in (0,) + SEEK_BACKOFF:
            if k - back < 0:
                break
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, k - back)
            landed = index_at(self.ms()) if self.cap.grab() else None
            if landed is not None and landed <= k:  # early is fine: decode forward
                self.pos = landed + 1
                return self.grab_through(k) and index_at(self.ms()) == k
        return False

    def reopen(self) -> bool:
        """Open the file again, at frame 0; False when it cannot be opened any more."""
        self.release()
        self.cap = open_file_capture(self.path, self.decoder_threads)
        self.pos = 0
        if not self.cap.isOpened():
            self.cap = None
            return False
        return True

    def release(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None
