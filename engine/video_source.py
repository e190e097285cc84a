"""Video sources: files, image folders and cameras behind one iterator of FramePacket.

    from engine.video_source import open_source
    with open_source("clip.mp4") as source:          # or a folder, or 0 for the first camera
        for packet in source:                         # FramePacket(index, timestamp, image)
            ...
        if source.error:                              # the iterator ended early (truncated file,
            print(source.error)                       # camera unplugged); frames before it were kept

Interface kept stable for the GUI's capture thread:

* ``open_source(spec)``: an ``int`` or a digit string is a camera index, an existing
  folder is an image folder, anything else a video file. Raises ``SourceError``
  (an ``OSError`` with a one-line message) when the source cannot be opened.
* every source has ``fps``, ``frame_size`` (width, height), ``is_live``,
  ``description``, ``frames_read``, ``error`` (``None`` or a one-line message set
  when the iterator stopped because of a failure), ``warning`` (``None`` or a
  one-line remark that did not stop it), ``close()`` and context-manager support.
* frames are always contiguous (H, W, 3) uint8 BGR (grayscale, BGRA and 16-bit
  input is normalised by ``engine.image_input.to_bgr_uint8``).

Files yield every frame, counted by reading (container headers can lie: the
shared obama.mp4 claims 158 frames and holds 55). ``VideoFileSource`` also has
``seek(index)`` (exact, checked against frame timestamps; ``SeekError`` past the
end), ``frame_count`` (the true count once known) and ``start_counting()`` (finds
it in the background, cheaply); the count and the frame timestamps are kept in
``engine.frame_counter``, the capture and its exact positioning in ``engine.file_capture``.
Cameras use a latest-frame policy: a reader thread keeps only the newest frame, so a slow
consumer gets the newest frame and never a growing backlog; the packet index counts frames
grabbed by the camera, so dropped frames show up as gaps.
"""
from __future__ import annotations

import dataclasses
import os
import re
import sys
import threading
import time
from pathlib import Path
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Iterator, cast

import numpy as np

from engine.config import InputConfig
from engine.errors import TrackerError, one_line
from engine.file_capture import FileCapture
from engine.frame_counter import FrameCounter
from engine.frames import FramePacket
from engine.image_input import ImageError, read_image, to_bgr_uint8

# FFmpeg (inside OpenCV) prints its own complaints about damaged files ("moov atom not
# found", "overread 8") to stderr; the sources report those in one line themselves.
# Read when OpenCV's FFmpeg backend opens its first file; a user's own setting wins.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
# Used when a container or camera reports no usable frame rate.
FALLBACK_FPS = 25.0
# A camera that delivers nothing for this long after opening (or in the middle of a
# session) is reported as gone.
CAMERA_TIMEOUT_S = 5.0


class SourceError(TrackerError, OSError):
    """A video source cannot be opened or stopped delivering frames (one-line message)."""


@dataclass(frozen=True)
class SkippedInput:
    """A file of an image folder that gave no frame, and why."""

    file: str  # name inside the folder
    reason: str


@dataclass(frozen=True)
class SourceEnding:
    """How reading a source ended, beyond ``error`` and ``warning``: what run.json records
    under "source" when the run ends."""

    frames_announced: int | None = None  # what a video's header claims (None: no claim)
    ended_early: bool = False  # read to its end, with fewer frames than announced
    frame_count: int | None = None  # counted by reading, when the run read or counted it all
    skipped_inputs: tuple[SkippedInput, ...] = ()  # image folders: unreadable images, skipped
    frame_files: tuple[str, ...] | None = None  # image folders: the file of each frame, by frame number

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"frames_announced": self.frames_announced, "ended_early": self.ended_early,
                                "skipped_inputs": [dataclasses.asdict(s) for s in self.skipped_inputs]}
        if self.frame_count is not None:  # the truth replaces the header's claim written at the start
            d["frame_count"] = self.frame_count
        if self.frame_files is not None:
            d["frame_files"] = list(self.frame_files)
        return d


class VideoSource:
    """Base class: iterate to get FramePacket; ``close()`` releases the device or file."""

    fps: float = FALLBACK_FPS
    frame_size: tuple[int, int] = (0, 0)  # (width, height) of the first frame
    is_live: bool = False
    description: str = ""
    seekable: bool = False  # seek() is possible and lands on the exact frame (files)
    frames_dropped: int = 0  # live sources: frames replaced before anyone took them

    def __init__(self) -> None:
        self.error: str | None = None
        self.warning: str | None = None
        self.frames_read = 0
        self._closed = False

    def __iter__(self) -> Iterator[FramePacket]:
        raise NotImplementedError

    def close(self) -> None:
        self._closed = True

    @property
    def frame_count(self) -> int | None:
        """Frames in the source: exact when ``frame_count_exact``, else an estimate (what a
        container claims) or None (live sources, or nothing known)."""
        return None

    @property
    def frame_count_exact(self) -> bool:
        return False

    def seek(self, index: int) -> None:
        """Make frame ``index`` the next packet (only where ``seekable``)."""
        raise SourceError(f"{self.description}: cannot seek in this source")

    def start_counting(self, on_done: Callable[[int], None] | None = None) -> None:
        """Find the exact frame count in the background, then call ``on_done(count)`` from
        that thread. Sources that know it already, or never will (live), do nothing."""

    def ending(self) -> SourceEnding:
        """How reading ended so far (complete once the iterator is exhausted)."""
        return SourceEnding()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


def open_source(spec: str | int | os.PathLike[str], *,
                max_image_pixels: int = InputConfig.max_image_pixels,
                decoder_threads: int | None = None) -> VideoSource:
    """Camera index (int or digit string), image folder, or video file.

    ``max_image_pixels`` (``input.max_image_pixels``): images of a folder declaring more
    pixels are skipped before they are decoded. ``decoder_threads``: FFmpeg's decoding threads
    for a video file (None: FFmpeg's choice, about one per core)."""
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        return CameraSource(int(spec))
    text = os.fspath(cast("str | os.PathLike[str]", spec))  # a bool is neither: fspath raises
    if text.strip().isdigit() and not Path(text).exists():
        return CameraSource(int(text))
    path = Path(text)
    if path.is_dir():
        return ImageFolderSource(path, max_image_pixels=max_image_pixels)
    if path.suffix.lower() in IMAGE_EXTENSIONS:  # read as `detect` reads it: pixel budget, EXIF orientation
        from engine.still_image import StillImageSource

        return StillImageSource(path, max_image_pixels=max_image_pixels)
    return VideoFileSource(path, decoder_threads=decoder_threads)


def _fps_or_fallback(value: float) -> float:
    return float(value) if value and np.isfinite(value) and 0.5 <= value <= 1000 else FALLBACK_FPS


# -- files -----------------------------------------------------------------------------


class SeekError(SourceError):
    """A seek past the end of a file; ``frame_count`` is the file's true length."""

    def __init__(self, message: str, frame_count: int) -> None:
        super().__init__(message)
        self.frame_count = frame_count


class FrameBuffers:
    """Decoded-frame buffers, used again once nothing but this pool refers to them.

    A fresh 720p frame (2.7 MB) per read costs the kernel ~700 page faults, each page
    zeroed, and an unmap when it is freed: about 15 % of a table-only run's CPU. A
    buffer is reused only when its reference count says nobody else holds it, or a view
    of it (a view refers to its base): frames kept downstream (the smoother's window,
    the pipelined run's queues, the app) are never overwritten.
    """

    # From 3.14 CPython may skip reference-count updates for references on a running
    # frame's stack, so a count of 2 no longer proves a buffer is unused: no pooling there.
    POOLING = sys.implementation.name == "cpython" and sys.version_info < (3, 14)

    def __init__(self, limit: int = 32) -> None:
        self.limit = limit if self.POOLING else 0
        self._buffers: list[np.ndarray] = []

    def free(self) -> np.ndarray | None:
        for i in range(len(self._buffers)):
            if sys.getrefcount(self._buffers[i]) == 2:  # the list's reference and the argument's
                return self._buffers[i]
        return None

    def keep(self, frame: np.ndarray) -> None:
        """Pool a buffer the decoder allocated (the pool is full: it is simply not kept)."""
        if len(self._buffers) < self.limit and not any(b is frame for b in self._buffers):
            self._buffers.append(frame)

    def clear(self) -> None:
        self._buffers.clear()


class VideoFileSource(VideoSource):
    """Every frame of a video file OpenCV can read (any container/codec its FFmpeg build knows).

    Timestamps are the stream's own (the decoder's ``CAP_PROP_POS_MSEC`` of each frame, so a
    variable frame rate keeps its real times), checked: a missing, negative or non-increasing
    one is replaced by the previous one plus a frame at the average rate (``index / fps`` for
    a first frame without one). If decoding stops with an exception, the iterator
    ends, ``error`` holds the reason and every frame before it has been delivered.
    If fewer frames are read than the header announces, ``warning`` says so: the
    header may simply be wrong (as in obama.mp4) or the file cut short.

    Frame count: ``header_frame_count`` is what the container says (may be wrong);
    ``frame_count`` is that claim until the true count is known (then
    ``frame_count_exact``): when iteration reached the end, when ``start_counting``
    (a background pass with its own capture, ``grab()`` only, one decoder thread,
    lowest CPU priority) finished, or when a seek ran past the end. The count and
    each frame's timestamp are kept by an ``engine.frame_counter.FrameCounter``.

    ``seek(k)``: the next packet the iterator yields is frame ``k`` (index ``k``,
    its own timestamp), exactly the ``k``-th frame sequential decoding gives.
    OpenCV's ``CAP_PROP_POS_FRAMES`` seek can land on another frame, so every
    landing is identified by its timestamp, which must be the one a count saw for
    frame ``k`` (when the timestamps known do not reach ``k``, seek counts the file
    in its own thread rather than wait for the background count). Landing early: decode forward to ``k``; landing
    late: seek again further back; a file without usable timestamps: reopen and
    decode forward from frame 0 (slow but exact); the mechanics are
    ``engine.file_capture.FileCapture``'s. Cost: a keyframe seek plus decoding up
    to ``k`` from that keyframe (tens to a few hundred ms), or just decoding forward
    for a target up to ``file_capture.SHORT_HOP`` frames ahead. ``k`` past the end
    raises ``SeekError`` (one line, with ``frame_count``); callers that want clamping
    seek to ``frame_count - 1``. Seeking after the iterator ended works (the file is
    reopened); call ``iter(source)`` again to read on.
    """

    seekable = True

    @property
    def frame_count(self) -> int | None:
        count = self._counter.count
        return count if count is not None else self.header_frame_count

    @property
    def frame_count_exact(self) -> bool:
        return self._counter.count is not None

    def __init__(self, path: str | os.PathLike[str], decoder_threads: int | None = None) -> None:
        super().__init__()
        import cv2

        self.path = Path(path)
        self.decoder_threads = decoder_threads
        self.description = str(self.path)
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such video file")
        if self.path.stat().st_size == 0:
            raise SourceError(f"{self.path}: file is empty")
        self._capture = FileCapture(self.path, decoder_threads)
        if not self._capture.is_opened:
            self._capture.release()
            raise SourceError(f"{self.path}: not a readable video (unknown format, or a truncated file "
                              "whose index is missing)")
        self.fps = _fps_or_fallback(self._capture.cap.get(cv2.CAP_PROP_FPS))
        count = self._capture.cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.header_frame_count = int(count) if count and count > 0 and np.isfinite(count) else None
        # The true count and the frame timestamps seek checks against, found by reading.
        self._counter = FrameCounter(self.path)
        self._buffers = FrameBuffers()
        self._last_stamp: float | None = None  # seconds, of the frame decoded last
        self._ended_early = False  # read to the end short of the header's count
        # Decode the first frame now: a file that opens but cannot decode fails here, and
        # frame_size is the real decoded size (not a header field).
        first = self._read_one()
        if first is None:
            self._capture.release()
            raise SourceError(f"{self.path}: no frame could be decoded (damaged or unsupported video)")
        self._pending: FramePacket | None = FramePacket(index=0, timestamp=self._stamp(0), image=first,
                                                        decode_ms=0.0)
        h, w = first.shape[:2]
        self.frame_size = (w, h)

    def _read_one(self) -> np.ndarray | None:
        index = self._capture.pos
        frame = self._capture.read(self._buffers.free())
        if frame is None:
            return None
        self._buffers.keep(frame)
        if self._counter.wants_read_time(index):
            self._counter.note_read_time(self._capture.ms())
        return to_bgr_uint8(frame)

    def _stamp(self, index: int) -> float:
        """Seconds: the decoder's timestamp of the frame it decoded last, when usable (finite,
        not negative, after the previous frame's); else the previous one plus a frame at the
        average rate (``index / fps`` with no previous one)."""
        ms = self._capture.ms()
        previous = self._last_stamp
        if np.isfinite(ms) and ms >= 0 and (previous is None or ms / 1000 > previous):
            stamp = ms / 1000
        else:
            stamp = index / self.fps if previous is None else previous + 1 / self.fps
        self._last_stamp = stamp
        return stamp

    def __iter__(self) -> Iterator[FramePacket]:
        while not self._closed:
            packet, self._pending = self._pending, None
            if packet is None:
                if self._capture.released:  # the end was reached before (files are read once)
                    return
                index = self._capture.pos
                t = time.perf_counter()
                try:
                    frame = self._read_one()
                except (ImageError, Exception) as e:  # cv2.error and friends: keep what we have
                    self.error = f"{self.path}: decoding stopped after {index} frames ({one_line(e)})"
                    break
                if frame is None:
                    self._counter.found_end(index)
                    break
                packet = FramePacket(index=index, timestamp=self._stamp(index), image=frame,
                                     decode_ms=(time.perf_counter() - t) * 1000)
            self.frames_read = packet.index + 1
            yield packet
        if self._closed:
            return
        n = self._counter.count
        if self.header_frame_count and n is not None and n < self.header_frame_count:
            self._ended_early = True
            self.warning = (f"{self.path}: {n} frames read, the header announces "
                            f"{self.header_frame_count} (wrong header, or a file cut short)")
        self._capture.release()  # a seek reopens it

    def ending(self) -> SourceEnding:
        return SourceEnding(frames_announced=self.header_frame_count, ended_early=self._ended_early,
                            frame_count=self._counter.count)

    # -- counting --------------------------------------------------------------------------

    def start_counting(self, on_done: Callable[[int], None] | None = None) -> None:
        """Count the frames in a background thread; ``on_done(frame_count)`` is called from it.

        Its own capture, ``grab()`` only (no colour conversion), one decoder thread, nice 19.
        Also records each frame's timestamp, which ``seek`` checks its landings against.
        """
        if not self._closed:
            self._counter.start(on_done)

    # -- seeking ---------------------------------------------------------------------------

    def seek(self, index: int) -> None:
        """Make frame ``index`` the next packet; exact (see the class notes). SeekError past the end."""
        if self._closed:
            raise SourceError(f"{self.path}: the source is closed")
        k = int(index)
        if k < 0:
            raise ValueError(f"frame index {k} is negative")
        t = time.perf_counter()
        if self._pending is not None and self._pending.index == k:
            return
        n, usable = self._counter.wait_for(k)
        if n is not None and k >= n:
            raise self._past_end(k, n)
        self._pending = None
        capture = self._capture
        if capture.released:
            self._reopen()
        # Leave frame k grabbed (decoded, not converted), by the cheapest exact way.
        if not capture.hop_to(k):
            if not (usable and capture.seek_checked(k, self._counter.index_at)):
                self._reopen()  # no usable timestamps: decode forward from the start
                if not capture.grab_through(k):
                    n = capture.pos
                    self._counter.found_end(n)
                    raise self._past_end(k, n)
        frame = capture.retrieve()
        if frame is None:
            raise SourceError(f"{self.path}: frame {k} cannot be decoded after a seek")
        self.error = None
        self._last_stamp = None  # a new start: the landing frame's own timestamp
        self._pending = FramePacket(index=k, timestamp=self._stamp(k), image=to_bgr_uint8(frame),
                                    decode_ms=(time.perf_counter() - t) * 1000)

    def _past_end(self, k: int, n: int) -> SeekError:
        return SeekError(f"{self.path}: cannot seek to frame {k}: the video has {n} frames (0 to {n - 1})", n)

    def _reopen(self) -> None:
        if not self._capture.reopen():
            raise SourceError(f"{self.path}: cannot be reopened")

    def close(self) -> None:
        if not self._closed:
            self._counter.stop()
            self._capture.release()
            self._buffers.clear()
        super().close()


# -- image folders ---------------------------------------------------------------------


def _natural_key(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


class ImageFolderSource(VideoSource):
    """The images of a folder in natural order (frame2 before frame10), at ``fps``.

    An unreadable image, or one whose header declares more than ``max_image_pixels``
    (refused before decoding), is skipped: named in ``warning`` and, with its reason, in
    ``ending().skipped_inputs``; frames keep consecutive indices, and ``ending().frame_files``
    names the file of every frame. Images of another size than the first are delivered as
    they are.
    """

    def __init__(self, folder: str | os.PathLike[str], fps: float = FALLBACK_FPS, *,
                 max_image_pixels: int = InputConfig.max_image_pixels) -> None:
        super().__init__()
        self.max_image_pixels = max_image_pixels
        self.folder = Path(folder)
        self.description = str(self.folder)
        if not self.folder.is_dir():
            raise SourceError(f"{self.folder}: no such folder")
        self.files = sorted((p for p in self.folder.iterdir()
                             if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
                            key=lambda p: _natural_key(p.name))
        if not self.files:
            raise SourceError(f"{self.folder}: no images ({', '.join(IMAGE_EXTENSIONS)})")
        self.fps = float(fps)
        self._first: tuple[int, np.ndarray] | None = None
        self.skipped: list[str] = []
        self._skipped: list[SkippedInput] = []
        self._frame_files: list[str] = []  # the file of each frame yielded, by frame number
        self._first_skip_reason = ""
        for i, p in enumerate(self.files):
            try:
                self._first = (i, read_image(str(p), self.max_image_pixels))
                break
            except ImageError as e:
                self._skip(p, e)
        if self._first is None:
            raise SourceError(f"{self.folder}: none of its {len(self.files)} images can be read "
                              f"(first: {self._first_skip_reason})")
        h, w = self._first[1].shape[:2]
        self.frame_size = (w, h)

    def _skip(self, path: Path, error: ImageError) -> None:
        self.skipped.append(path.name)
        self._skipped.append(SkippedInput(path.name, str(error)))
        self._first_skip_reason = self._first_skip_reason or str(error)

    def ending(self) -> SourceEnding:
        return SourceEnding(skipped_inputs=tuple(self._skipped), frame_files=tuple(self._frame_files))

    def __iter__(self) -> Iterator[FramePacket]:
        if self._closed or self._first is None:
            return
        start, image = self._first
        self._first = None
        index = 0
        decode_ms = 0.0
        for i in range(start, len(self.files)):
            if i > start:
                t = time.perf_counter()
                try:
                    image = read_image(str(self.files[i]), self.max_image_pixels)
                except ImageError as e:
                    self._skip(self.files[i], e)
                    continue
                decode_ms = (time.perf_counter() - t) * 1000
            self.frames_read = index + 1
            self._frame_files.append(self.files[i].name)
            yield FramePacket(index=index, timestamp=index / self.fps, image=image, decode_ms=decode_ms)
            index += 1
            if self._closed:
                return
        if self.skipped:
            self.warning = (f"{self.folder}: skipped {len(self.skipped)} unreadable image(s), first "
                            f"{self._first_skip_reason}")
        self.close()


# -- cameras ---------------------------------------------------------------------------


class CameraSource(VideoSource):
    """Live frames with a latest-frame policy.

    ``CameraSource(0)`` opens camera 0. ``CameraSource(capture)`` takes any object with
    ``read() -> (ok, frame)``, ``release()`` and optionally ``get(prop)`` (a
    cv2.VideoCapture, or a test double); ``CameraSource("clip.mp4")`` puts a video file
    behind the camera interface (for tests: the file is read as fast as it decodes).

    A reader thread grabs frames continuously and keeps only the newest one; the
    iterator waits for a frame newer than the one it returned last. ``index`` is the
    number of frames grabbed before it (gaps = frames the consumer was too slow for),
    ``timestamp`` the seconds since the source was opened, taken at grab time.
    ``frames_dropped`` counts frames that were replaced before anyone took them.

    When the device stops delivering (unplugged, or ``timeout`` seconds without a
    frame) the iterator ends and ``error`` says so. A file behind the interface ends
    normally (``end_is_error=False``).
    """

    is_live = True

    def __init__(self, device: int | str | os.PathLike[str] | Any, *, fps: float | None = None,
                 timeout: float = CAMERA_TIMEOUT_S, end_is_error: bool | None = None,
                 width: int | None = None, height: int | None = None) -> None:
        super().__init__()
        import cv2

        self.timeout = float(timeout)
        cap: Any  # cv2.VideoCapture, or any object with read() and get()
        if isinstance(device, (int, np.integer)) and not isinstance(device, bool):
            self.description = f"camera {int(device)}"
            # A camera that cannot be opened makes each backend print a [ WARN ] line while it
            # tries; the SourceError below says it once.
            level = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
            try:
                cap = cv2.VideoCapture(int(device))
            finally:
                cv2.utils.logging.setLogLevel(level)
            if not cap.isOpened():
                cap.release()
                raise SourceError(f"camera {int(device)} cannot be opened (not present, or in use)")
            try:
                cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # drivers that honour it queue less
                if width:
                    cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
                if height:
                    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
                if fps:  # a mode the camera listed; what it really delivers is read back below
                    cap.set(cv2.CAP_PROP_FPS, float(fps))
                    fps = None
            except cv2.error:
                pass
            default_end_is_error = True
        elif isinstance(device, (str, os.PathLike)):
            path = Path(device)
            self.description = f"{path} (as a live source)"
            if not path.is_file():
                raise SourceError(f"{path}: no such video file")
            cap = cv2.VideoCapture(str(path))
            if not cap.isOpened():
                cap.release()
                raise SourceError(f"{path}: not a readable video")
            default_end_is_error = False
        else:
            if not hasattr(device, "read"):
                raise TypeError("CameraSource needs a camera index, a path, or an object with read()")
            cap = device
            self.description = f"{type(device).__name__} (live)"
            default_end_is_error = True
        self._cap = cap
        self.end_is_error = default_end_is_error if end_is_error is None else bool(end_is_error)
        reported = _fps_or_fallback(_get(cap, cv2.CAP_PROP_FPS)) if fps is None else float(fps)
        self.fps = reported
        self.frames_dropped = 0
        self._cond = threading.Condition()
        self._latest: tuple[int, float, np.ndarray] | None = None
        self._grabbed = 0
        self._ended = False
        self._stop = False
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._reader, name=f"CameraSource({self.description})",
                                        daemon=True)
        self._thread.start()
        # Wait for the first frame so frame_size is known and a dead device fails here.
        with self._cond:
            self._cond.wait_for(lambda: self._latest is not None or self._ended, timeout=self.timeout)
            first = self._latest
        if first is None:
            reason = self.error or f"no frame within {self.timeout:g} s"
            self.close()
            raise SourceError(f"{self.description}: {reason}")
        h, w = first[2].shape[:2]
        self.frame_size = (w, h)

    def _reader(self) -> None:
        # Only this thread touches the capture, releasing it included: a close() that gave up
        # waiting for a read stuck in a slow driver must not release the device under it.
        try:
            self._read_until_stopped()
        finally:
            try:
                self._cap.release()
            except Exception:
                pass

    def _read_until_stopped(self) -> None:
        while not self._stop:
            try:
                ok, frame = self._cap.read()
                frame = to_bgr_uint8(frame) if ok and frame is not None else None
            except Exception as e:  # a driver error is the end of this camera
                frame = None
                with self._cond:
                    self.error = f"{self.description}: read failed ({one_line(e)})"
            stamp = time.monotonic() - self._t0
            with self._cond:
                if frame is None:
                    if self.end_is_error and not self._stop and self.error is None:
                        self.error = f"{self.description} stopped delivering frames (disconnected?)"
                    self._ended = True
                    self._cond.notify_all()
                    return
                if self._latest is not None and self._latest[0] >= self._taken_upto:
                    self.frames_dropped += 1
                self._latest = (self._grabbed, stamp, frame)
                self._grabbed += 1
                self._cond.notify_all()

    _taken_upto = 0  # index of the next frame the consumer has not seen

    def __iter__(self) -> Iterator[FramePacket]:
        while not self._closed:
            with self._cond:
                got = self._cond.wait_for(
                    lambda: (self._latest is not None and self._latest[0] >= self._taken_upto)
                    or self._ended or self._closed, timeout=self.timeout)
                if self._closed:
                    return
                latest = self._latest
                fresh = latest is not None and latest[0] >= self._taken_upto
                if not fresh:
                    if not got and not self._ended:
                        self.error = f"{self.description}: no frame for {self.timeout:g} s (camera gone?)"
                    break
                assert latest is not None  # fresh implies a frame
                self._taken_upto = latest[0] + 1
            index, stamp, frame = latest
            self.frames_read += 1
            yield FramePacket(index=index, timestamp=stamp, image=frame, decode_ms=0.0)
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._stop = True
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            if threading.current_thread() is not self._thread:
                self._thread.join(timeout=2.0)  # the reader releases the device on its way out
        super().close()


def _get(cap: Any, prop: int) -> float:
    try:
        return float(cap.get(prop)) if hasattr(cap, "get") else 0.0
    except Exception:
        return 0.0
