"""The true length of a video file and the timestamp of each of its frames, found by reading.

Container headers can lie (the shared obama.mp4 claims 158 frames and holds 55) and OpenCV's
frame-number seek can land on another frame, so ``VideoFileSource`` keeps here what reading
really found: the frame count, and each frame's timestamp (ms), which its exact seek checks
landings against. Timestamps come from two places: a count (a pass with a capture of its
own, ``grab()`` only) and sequential reading from frame 0; the longer prefix is the truth.

A count normally runs in a background thread at the lowest CPU priority (``start``). A seek
that needs it does not wait for that thread, which on a loaded machine can be starved for
minutes: ``wait_for`` counts in the caller's thread instead and abandons the background pass.
Each pass carries a generation; a pass whose generation is no longer the current one (or
that runs on after ``stop``) ends without changing anything or reporting.
"""
from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.file_capture import open_file_capture

# Two frame timestamps closer than this (ms) are the same frame.
TIME_TOL_MS = 0.5


class FrameCounter:
    """The frame count and frame timestamps of the video file at ``path``, as far as known.

    ``count`` is None until a count finished or reading found the end (``found_end``).
    ``times_usable`` turns False once a timestamp is missing or not after the previous one:
    then timestamps do not identify frames and seeks cannot be checked against them.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        # Guards everything below: the background pass, a seeking thread's pass and the
        # reading thread all write here. Reentrant: a pass notes times while holding it.
        self._lock = threading.Condition()
        self._count: int | None = None
        # Frame timestamps (ms) in decoding order: from the count, and from reading
        # sequentially from frame 0 (until the first seek).
        self._times: list[float] = []
        self._read_times: list[float] = []
        self.times_usable = True
        self._thread: threading.Thread | None = None  # the background pass, once started
        self._done = False  # a current pass counted to the end
        self._stopped = False
        self._generation = 0  # bumped when a seek takes the count over from the background
        self._on_done: Callable[[int], None] | None = None

    @property
    def count(self) -> int | None:
        with self._lock:
            return self._count

    def found_end(self, count: int) -> None:
        """Reading (or decoding forward for a seek) ran out after ``count`` frames."""
        with self._lock:
            self._count = count

    def wants_read_time(self, index: int) -> bool:
        """Whether frame ``index``, just read, extends sequential reading's timestamps: true
        while reading has gone frame by frame from frame 0. (Only the reading thread changes
        them, so no lock.)"""
        return index == len(self._read_times)

    def note_read_time(self, ms: float) -> None:
        self._note(self._read_times, ms)

    def start(self, on_done: Callable[[int], None] | None = None) -> None:
        """Count in a background thread (once); ``on_done(count)`` is called from it.

        Its own capture, ``grab()`` only (no colour conversion), one decoder thread, nice 19."""
        if self._thread is not None:
            return
        self._on_done = on_done
        self._thread = threading.Thread(target=self._background_count, args=(self._generation,),
                                        daemon=True, name=f"frame count ({self.path.name})")
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the background pass, if one was started."""
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def stop(self) -> None:
        """Make any pass end at its next frame, and wait briefly for the background one."""
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
        if threading.current_thread() is not self._thread:  # on_done may close the source
            self.join(timeout=2.0)

    def wait_for(self, index: int) -> tuple[int | None, bool]:
        """Make sure frame ``index``'s timestamp is known or a count ended; then return the
        count (None: not known) and whether frame ``index`` can be identified by its timestamp.

        When neither is so yet, the calling thread counts the file by itself instead of waiting
        for the background count: that one runs at the lowest priority, and on a loaded machine
        it can be starved for minutes (a seek then seemed to hang). The background count is
        abandoned."""
        with self._lock:
            n = self._count
            if not (len(self._known_times()) > index or (n is not None and index >= n) or self._done):
                self._generation += 1
                generation = self._generation
                self._times = []
            else:
                generation = None
        if generation is not None:
            self._count_frames(generation)
        with self._lock:
            return self._count, self.times_usable and len(self._known_times()) > index

    def index_at(self, ms: float) -> int | None:
        """Which frame has timestamp ``ms`` (from the known timestamps), or None."""
        with self._lock:
            times = self._known_times()
            i = bisect.bisect_left(times, ms - TIME_TOL_MS)
            return i if i < len(times) and abs(times[i] - ms) <= TIME_TOL_MS else None

    def _background_count(self, generation: int) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # Linux: this thread only
        except (AttributeError, OSError):
            pass
        self._count_frames(generation)

    def _count_frames(self, generation: int) -> None:
        """Grab every frame with a capture of its own, noting timestamps; ends by setting
        ``count``, unless a newer pass (``generation``) or stop() took over."""
        import cv2

        n = 0
        cap = None
        count: int | None = None  # what to report: set only by a pass that is still current
        try:
            cap = open_file_capture(self.path, decoder_threads=1)
            while cap.grab():
                with self._lock:
                    if self._stopped or generation != self._generation:
                        break
                    self._note(self._times, float(cap.get(cv2.CAP_PROP_POS_MSEC)))
                n += 1
        except Exception:  # a decoder error ends the count where sequential reading would stop
            pass
        finally:
            if cap is not None:
                cap.release()
            with self._lock:
                if not self._stopped and generation == self._generation:
                    if self._count is None:
                        self._count = n
                    self._done = True
                    count = self._count
                self._lock.notify_all()
        if count is not None and self._on_done is not None:
            self._on_done(count)

    def _note(self, times: list[float], ms: float) -> None:
        with self._lock:
            if not np.isfinite(ms) or (times and ms <= times[-1] + TIME_TOL_MS):
                self.times_usable = False
            times.append(ms)
            self._lock.notify_all()

    def _known_times(self) -> list[float]:
        """The longer of the two timestamp prefixes (call with the lock held)."""
        return self._times if len(self._times) >= len(self._read_times) else self._read_times
