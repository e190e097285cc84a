"""A Matroska file whose frames carry the timestamps a test chooses (a variable frame rate),
written by hand: Motion-JPEG frames (V_MJPEG) as SimpleBlocks in one Cluster. OpenCV's
FFmpeg reads it like any camera or phone recording with an irregular frame rate; no
ffmpeg binary or PyAV is needed.
"""
from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _id(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _size(n: int) -> bytes:
    return b"\x01" + n.to_bytes(7, "big")  # an 8-byte size: any length, one rule


def _element(eid: int, payload: bytes) -> bytes:
    return _id(eid) + _size(len(payload)) + payload


def _uint(eid: int, value: int) -> bytes:
    return _element(eid, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _text(eid: int, value: str) -> bytes:
    return _element(eid, value.encode("ascii"))


def write_vfr_mkv(path: Path, frames: Sequence[np.ndarray], times_ms: Sequence[int]) -> None:
    """``frames`` (BGR, one size) shown at ``times_ms`` (increasing, under 32 s)."""
    import cv2

    assert len(frames) == len(times_ms) and list(times_ms) == sorted(set(times_ms)) and times_ms[-1] < 32_000
    h, w = frames[0].shape[:2]
    header = _element(0x1A45DFA3, _uint(0x4286, 1) + _uint(0x42F7, 1) + _uint(0x42F2, 4) + _uint(0x42F3, 8)
                      + _text(0x4282, "matroska") + _uint(0x4287, 4) + _uint(0x4285, 2))
    step = times_ms[-1] - times_ms[-2] if len(times_ms) > 1 else 40
    info = _element(0x1549A966, _uint(0x2AD7B1, 1_000_000) + _text(0x4D80, "tests") + _text(0x5741, "tests")
                    + _element(0x4489, struct.pack(">d", float(times_ms[-1] + step))))
    video = _element(0xE0, _uint(0xB0, w) + _uint(0xBA, h))
    track = _element(0xAE, _uint(0xD7, 1) + _uint(0x73C5, 1) + _uint(0x83, 1) + _text(0x86, "V_MJPEG") + video)
    tracks = _element(0x1654AE6B, track)
    blocks = b""
    for frame, t in zip(frames, times_ms):
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        blocks += _element(0xA3, b"\x81" + struct.pack(">hB", int(t), 0x80) + jpeg.tobytes())
    cluster = _element(0x1F43B675, _uint(0xE7, 0) + blocks)
    Path(path).write_bytes(header + _element(0x18538067, info + tracks + cluster))
