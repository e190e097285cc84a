"""Motion-JPEG AVI files written by our own small muxer (frames encoded by OpenCV's JPEG encoder).

Why not ``cv2.VideoWriter``: its FFmpeg backend rounds odd frame sizes down (641x479
came out 640x478), its own MJPEG backend buffers and ignores write errors (a full
disk went unnoticed), and both print ``[ WARN ]`` lines of their own. Here every
frame is one JPEG chunk written and flushed at once: any size, a write error is an
``OSError`` naming the file, and a killed process leaves a file that FFmpeg and
OpenCV play up to its last complete frame (they read the chunks in order when the
index at the end is missing).

Layout: ``RIFF AVI`` with ``hdrl`` (one video stream, fourcc MJPG), ``LIST movi``
with one ``00dc`` chunk per frame and an ``idx1`` index written by ``close``, which
also fills in the sizes and the frame count. Past ``RIFF_LIMIT`` bytes the file goes
on in ``RIFF AVIX`` parts (OpenDML style) and the index is left out; readers then
read the chunks in order, as for a killed run.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

# Quality of the JPEG of each frame (OpenCV's scale, 0-100).
JPEG_QUALITY = 90
# A RIFF chunk's size is 32-bit; start a new part well before that.
RIFF_LIMIT = 1 << 30
_KEYFRAME = 0x10
_HAS_INDEX = 0x10


class VideoWriteError(OSError):
    """The video file could not be written (one-line message naming it)."""


class MjpegAviWriter:
    """``write(image)`` BGR frames of exactly ``frame_size`` (width, height); ``close()`` once."""

    def __init__(self, path: str | os.PathLike[str], fps: float, frame_size: tuple[int, int],
                 riff_limit: int = RIFF_LIMIT) -> None:
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self.width, self.height = (int(v) for v in frame_size)
        if self.width < 1 or self.height < 1:
            raise ValueError(f"bad video frame size {frame_size}")
        self.frames = 0
        self._riff_limit = int(riff_limit)
        self._index: list[tuple[int, int]] | None = []  # (offset from 'movi', size); None past one part
        self._max_chunk = 0
        try:
            self._f: BinaryIO | None = open(self.path, "wb")
            self._riff_start, self._movi_start = self._write_header()
            self._f.flush()
        except OSError as e:
            raise VideoWriteError(f"cannot write {self.path}: {e.strerror or e}") from None

    def _write_header(self) -> tuple[int, int]:
        f = self._f
        assert f is not None
        us_per_frame = int(round(1e6 / self.fps))
        rate, scale = _rate_scale(self.fps)
        avih = struct.pack("<14I", us_per_frame, 0, 0, _HAS_INDEX, 0, 0, 1, 0, self.width, self.height,
                           0, 0, 0, 0)
        strh = (b"vidsMJPG" + struct.pack("<IHHIIIIIIII", 0, 0, 0, 0, scale, rate, 0, 0, 0, 0xFFFFFFFF, 0)
                + struct.pack("<4h", 0, 0, min(self.width, 32767), min(self.height, 32767)))
        strf = struct.pack("<IiiHH4sIiiII", 40, self.width, self.height, 1, 24, b"MJPG",
                           self.width * self.height * 3, 0, 0, 0, 0)
        strl = b"strl" + _chunk(b"strh", strh) + _chunk(b"strf", strf)
        hdrl = b"hdrl" + _chunk(b"avih", avih) + _chunk(b"LIST", strl)
        f.write(b"RIFF" + struct.pack("<I", 0) + b"AVI ")
        f.write(_chunk(b"LIST", hdrl))
        movi_start = f.tell() + 8  # the 'movi' fourcc: idx1 offsets count from here
        f.write(b"LIST" + struct.pack("<I", 0) + b"movi")
        return 0, movi_start

    def write(self, image: np.ndarray) -> None:
        """Append one frame (H, W, 3) uint8 BGR of the writer's size."""
        import cv2

        if self._f is None:
            raise ValueError(f"{self.path} is closed")
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame is {image.shape[1]}x{image.shape[0]}, the video {self.width}x{self.height}")
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise VideoWriteError(f"cannot encode a frame of {self.path} as JPEG")
        data = jpeg.tobytes()
        try:
            if self._f.tell() + len(data) + 8 > self._riff_start + self._riff_limit:
                self._next_part()
            offset = self._f.tell() - self._movi_start
            self._f.write(_chunk(b"00dc", data))
            self._f.flush()
        except OSError as e:
            self._abandon()
            raise VideoWriteError(f"cannot write {self.path}: {e.strerror or e}") from None
        if self._index is not None:
            self._index.append((offset, len(data)))
        self._max_chunk = max(self._max_chunk, len(data))
        self.frames += 1

    def _next_part(self) -> None:
        """Close the current RIFF part and open an 'AVIX' one (no idx1 from here on)."""
        f = self._f
        assert f is not None
        self._patch_sizes(f.tell())
        self._index = None
        self._riff_start = f.tell()
        f.write(b"RIFF" + struct.pack("<I", 0) + b"AVIX")
        self._movi_start = f.tell() + 8
        f.write(b"LIST" + struct.pack("<I", 0) + b"movi")

    def _patch_sizes(self, end: int) -> None:
        f = self._f
        assert f is not None
        f.seek(self._riff_start + 4)
        f.write(struct.pack("<I", end - self._riff_start - 8))
        f.seek(self._movi_start - 4)
        f.write(struct.pack("<I", end - self._movi_start + 4))
        f.seek(end)

    def close(self) -> None:
        """Write the index, sizes and frame count. Safe to call twice."""
        f, self._f = self._f, None
        if f is None:
            return
        try:
            self._f = f
            end = f.tell()
            self._patch_sizes(end)
            if self._index is not None:
                entries = b"".join(struct.pack("<4sIII", b"00dc", _KEYFRAME, off, size) for off, size in self._index)
                f.write(_chunk(b"idx1", entries))
                end = f.tell()
                f.seek(self._riff_start + 4)
                f.write(struct.pack("<I", end - self._riff_start - 8))
            # Frame counts and buffer sizes in avih / strh (offsets fixed by the header layout).
            f.seek(12 + 8 + 4 + 8 + 16)  # avih.dwTotalFrames
            f.write(struct.pack("<I", self.frames))
            f.seek(12 + 8 + 4 + 8 + 28)  # avih.dwSuggestedBufferSize
            f.write(struct.pack("<I", self._max_chunk))
            strh = 12 + 8 + 4 + 8 + 56 + 12 + 8
            f.seek(strh + 32)  # strh.dwLength
            f.write(struct.pack("<II", self.frames, self._max_chunk))
            f.flush()
            os.fsync(f.fileno())  # on disk before run.json (and a batch's marker) say it is complete
            f.close()
        except OSError as e:
            raise VideoWriteError(f"cannot write {self.path}: {e.strerror or e}") from None
        finally:
            self._f = None

    def _abandon(self) -> None:
        """After a write error: close without the index (the file stays readable in order)."""
        f, self._f = self._f, None
        if f is not None:
            try:
                f.close()
            except OSError:
                pass


def _chunk(fourcc: bytes, data: bytes) -> bytes:
    pad = b"\0" if len(data) % 2 else b""
    return fourcc + struct.pack("<I", len(data)) + data + pad


def _rate_scale(fps: float) -> tuple[int, int]:
    """fps as the AVI's rate / scale pair (29.97 -> 30000 / 1001)."""
    for scale in (1, 1001, 1000):
        rate = fps * scale
        if abs(rate - round(rate)) < 1e-3:
            return int(round(rate)), scale
    return int(round(fps * 1000)), 1000
