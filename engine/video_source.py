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
shared obama.mp4 claims 158 frames and holds 55). Cameras use a latest-frame
policy: a reader thread keeps only the newest frame, so a slow consumer gets the
newest frame and never a growing backlog; the packet index counts frames grabbed
by the camera, so dropped frames show up as gaps.
"""
from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from engine.frames import FramePacket
from engine.image_input import ImageError, read_image, to_bgr_uint8

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
# Used when a container or camera reports no usable frame rate.
FALLBACK_FPS = 25.0
# A camera that delivers nothing for this long after opening (or in the middle of a
# session) is reported as gone.
CAMERA_TIMEOUT_S = 5.0


class SourceError(OSError):
    """A video source cannot be opened or stopped delivering frames (one-line message)."""


class VideoSource:
    """Base class: iterate to get FramePacket; ``close()`` releases the device or file."""

    fps: float = FALLBACK_FPS
    frame_size: tuple[int, int] = (0, 0)  # (width, height) of the first frame
    is_live: bool = False
    description: str = ""

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
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


def open_source(spec: str | int | os.PathLike) -> VideoSource:
    """Camera index (int or digit string), image folder, or video file."""
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        return CameraSource(int(spec))
    text = os.fspath(spec)
    if text.strip().isdigit() and not Path(text).exists():
        return CameraSource(int(text))
    path = Path(text)
    if path.is_dir():
        return ImageFolderSource(path)
    return VideoFileSource(path)


def _fps_or_fallback(value: float) -> float:
    return float(value) if value and np.isfinite(value) and 0.5 <= value <= 1000 else FALLBACK_FPS


# -- files -----------------------------------------------------------------------------


class VideoFileSource(VideoSource):
    """Every frame of a video file OpenCV can read (any container/codec its FFmpeg build knows).

    Timestamps are ``index / fps``. If decoding stops with an exception, the iterator
    ends, ``error`` holds the reason and every frame before it has been delivered.
    If fewer frames are read than the header announces, ``warning`` says so: the
    header may simply be wrong (as in obama.mp4) or the file cut short.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__()
        import cv2

        self.path = Path(path)
        self.description = str(self.path)
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such video file")
        if self.path.stat().st_size == 0:
            raise SourceError(f"{self.path}: file is empty")
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(f"{self.path}: not a readable video (unknown format, or a truncated file "
                              "whose index is missing)")
        self.fps = _fps_or_fallback(self._cap.get(cv2.CAP_PROP_FPS))
        count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.header_frame_count = int(count) if count and count > 0 and np.isfinite(count) else None
        # Decode the first frame now: a file that opens but cannot decode fails here, and
        # frame_size is the real decoded size (not a header field).
        self._first = self._read_one()
        if self._first is None:
            self._cap.release()
            raise SourceError(f"{self.path}: no frame could be decoded (damaged or unsupported video)")
        h, w = self._first.shape[:2]
        self.frame_size = (w, h)
        self.last_decode_ms = 0.0

    def _read_one(self) -> np.ndarray | None:
        ok, frame = self._cap.read()
        if not ok or frame is None:
            return None
        return to_bgr_uint8(frame)

    def __iter__(self) -> Iterator[FramePacket]:
        if self._closed:
            return
        index = 0
        frame, self._first = self._first, None
        if frame is None:  # second iteration: files are read once
            return
        decode_ms = 0.0
        while frame is not None:
            self.frames_read = index + 1
            yield FramePacket(index=index, timestamp=index / self.fps, image=frame, decode_ms=decode_ms)
            index += 1
            if self._closed:
                return
            t = time.perf_counter()
            try:
                frame = self._read_one()
            except (ImageError, Exception) as e:  # cv2.error and friends: keep what we have
                self.error = f"{self.path}: decoding stopped after {index} frames ({_one_line(e)})"
                break
            decode_ms = (time.perf_counter() - t) * 1000
        if self.header_frame_count and self.frames_read < self.header_frame_count and not self.error:
            self.warning = (f"{self.path}: {self.frames_read} frames read, the header announces "
                            f"{self.header_frame_count} (wrong header, or a file cut short)")
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._cap.release()
        super().close()


# -- image folders ---------------------------------------------------------------------


def _natural_key(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


class ImageFolderSource(VideoSource):
    """The images of a folder in natural order (frame2 before frame10), at ``fps``.

    An unreadable image is skipped and named in ``warning``; frames keep consecutive
    indices. Images of another size than the first are delivered as they are.
    """

    def __init__(self, folder: str | os.PathLike, fps: float = FALLBACK_FPS) -> None:
        super().__init__()
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
        for i, p in enumerate(self.files):
            try:
                self._first = (i, read_image(str(p)))
                break
            except ImageError:
                continue
        if self._first is None:
            raise SourceError(f"{self.folder}: none of its {len(self.files)} images can be read")
        h, w = self._first[1].shape[:2]
        self.frame_size = (w, h)
        self.skipped: list[str] = [p.name for p in self.files[: self._first[0]]]

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
                    image = read_image(str(self.files[i]))
                except ImageError:
                    self.skipped.append(self.files[i].name)
                    continue
                decode_ms = (time.perf_counter() - t) * 1000
            self.frames_read = index + 1
            yield FramePacket(index=index, timestamp=index / self.fps, image=image, decode_ms=decode_ms)
            index += 1
            if self._closed:
                return
        if self.skipped:
            self.warning = (f"{self.folder}: skipped {len(self.skipped)} unreadable image(s), first "
                            f"{self.skipped[0]}")
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

    def __init__(self, device: int | str | os.PathLike | Any, *, fps: float | None = None,
                 timeout: float = CAMERA_TIMEOUT_S, end_is_error: bool | None = None,
                 width: int | None = None, height: int | None = None) -> None:
        super().__init__()
        import cv2

        self.timeout = float(timeout)
        if isinstance(device, (int, np.integer)) and not isinstance(device, bool):
            self.description = f"camera {int(device)}"
            cap = cv2.VideoCapture(int(device))
            if not cap.isOpened():
                cap.release()
                raise SourceError(f"camera {int(device)} cannot be opened (not present, or in use)")
            try:
                cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # drivers that honour it queue less
                if width:
                    cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
                if height:
                    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
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
        while not self._stop:
            try:
                ok, frame = self._cap.read()
                frame = to_bgr_uint8(frame) if ok and frame is not None else None
            except Exception as e:  # a driver error is the end of this camera
                frame = None
                with self._cond:
                    self.error = f"{self.description}: read failed ({_one_line(e)})"
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
                self._thread.join(timeout=2.0)
            try:
                self._cap.release()
            except Exception:
                pass
        super().close()


def _get(cap: Any, prop: int) -> float:
    try:
        return float(cap.get(prop)) if hasattr(cap, "get") else 0.0
    except Exception:
        return 0.0


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[-1] if text else type(e).__name__
