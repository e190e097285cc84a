"""One still image as a one-frame source, so `track photo.jpg` reads it the way `detect` does.

OpenCV's ``VideoCapture`` opens an image file too, but decodes it whatever its size
(a 144 MP JPEG cost 1.1 GB) and ignores its EXIF orientation. This source reads it with
``engine.image_input.read_image``: the pixel budget (``input.max_image_pixels``) is
checked on the header before decoding, and the picture is turned upright.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from engine.config import InputConfig
from engine.frames import FramePacket
from engine.image_input import ImageError, read_image
from engine.video_source import FALLBACK_FPS, SourceError, VideoSource


class StillImageSource(VideoSource):
    """A single image file: one frame, index 0, at time 0."""

    def __init__(self, path: str | os.PathLike[str], *,
                 max_image_pixels: int = InputConfig.max_image_pixels) -> None:
        super().__init__()
        self.path = Path(path)
        self.description = str(self.path)
        self.fps = FALLBACK_FPS
        t = time.perf_counter()
        try:
            self._image: np.ndarray | None = read_image(str(self.path), max_image_pixels)
        except ImageError as e:
            raise SourceError(str(e)) from None
        self._decode_ms = (time.perf_counter() - t) * 1000
        h, w = self._image.shape[:2]
        self.frame_size = (w, h)

    @property
    def frame_count(self) -> int | None:
        return 1

    @property
    def frame_count_exact(self) -> bool:
        return True

    def __iter__(self) -> Iterator[FramePacket]:
        if self._closed or self._image is None:
            return
        image, self._image = self._image, None
        self.frames_read = 1
        yield FramePacket(index=0, timestamp=0.0, image=image, decode_ms=self._decode_ms)
        self.close()
