"""Opening a local video file with OpenCV, for reading it and for counting its frames."""
from __future__ import annotations

from pathlib import Path
from typing import Any


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
