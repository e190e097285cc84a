"""Normalise whatever a user hands us into the 8-bit BGR frame the models expect."""
from __future__ import annotations

import numpy as np

from engine.errors import TrackerError

# Frames beyond this many pixels per side are refused: the detector shrinks big
# frames anyway, and a 100k-pixel-wide image is almost surely a corrupt header.
MAX_SIDE = 16384


class ImageError(TrackerError, ValueError):
    """An image cannot be used as a frame (empty, wrong shape or type)."""


def to_bgr_uint8(image: np.ndarray) -> np.ndarray:
    """Return a contiguous (H, W, 3) uint8 BGR view or copy of ``image``.

    Accepts grayscale (H, W) or (H, W, 1), BGR, BGRA (alpha dropped), and 8-bit,
    16-bit or float images (16-bit is scaled by 1/257; floats are taken as 0..1 when
    their maximum is at most 1, else as 0..255).
    """
    if not isinstance(image, np.ndarray):
        raise ImageError(f"expected a numpy image, got {type(image).__name__}")
    if image.size == 0:
        raise ImageError("image is empty")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ImageError(f"unsupported image shape {image.shape}: expected HxW, HxWx3 or HxWx4")
    h, w = image.shape[:2]
    if max(h, w) > MAX_SIDE:
        raise ImageError(f"image of {w}x{h} pixels is too large (max {MAX_SIDE} per side)")
    image = _to_uint8(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        finite = np.nan_to_num(image.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        scale = 255.0 if finite.max(initial=0.0) <= 1.0 else 1.0
        return np.clip(finite * scale + 0.5, 0, 255).astype(np.uint8)
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    raise ImageError(f"unsupported image dtype {image.dtype}")


def read_image(path: str) -> np.ndarray:
    """Read an image file as 8-bit BGR, with a one-line error when it cannot be read."""
    import os

    import cv2

    if not os.path.isfile(path):
        raise ImageError(f"{path}: no such file")
    data = np.fromfile(path, dtype=np.uint8)  # works for non-ASCII paths, unlike cv2.imread
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ImageError(f"{path}: not a readable image (unknown format or truncated)")
    return to_bgr_uint8(image)
