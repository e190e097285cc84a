"""Normalise whatever a user hands us into the 8-bit BGR frame the models expect."""
from __future__ import annotations

import numpy as np

from engine.config import PILLOW_HARD_PIXEL_LIMIT, InputConfig
from engine.errors import TrackerError

# Frames beyond this many pixels per side are refused: the detector shrinks big
# frames anyway, and a 100k-pixel-wide image is almost surely a corrupt header.
MAX_SIDE = 16384


class ImageError(TrackerError, ValueError):
    """An image cannot be used as a frame (empty, wrong shape or type)."""


def copy_into(image: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """``image`` copied into ``out`` when ``out`` is an array of its shape and type (a writer's
    reused canvas; nothing to copy when it is ``image`` itself), else into a new array."""
    if out is None or out.shape != image.shape or out.dtype != image.dtype:
        return image.copy()
    if out is not image:
        np.copyto(out, image)
    return out


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


def check_image_header(data: bytes | np.ndarray, path: str, max_pixels: int) -> tuple[int, int]:
    """(width, height) that an encoded image's header declares, read without decoding its
    pixels; ImageError when that is more than ``max_pixels`` pixels or the header is unreadable.

    Pillow's ``Image.open`` reads only the header. It refuses by itself headers over twice
    its ``MAX_IMAGE_PIXELS`` (that is why ``input.max_image_pixels`` cannot go higher).
    """
    import io
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the budget decides
            with Image.open(io.BytesIO(bytes(data))) as header:
                width, height = int(header.size[0]), int(header.size[1])
    except Image.DecompressionBombError:
        raise ImageError(f"{path}: its header declares more than {PILLOW_HARD_PIXEL_LIMIT} pixels, over the "
                         f"budget of {max_pixels} (input.max_image_pixels)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):  # Pillow's parse errors
        raise ImageError(f"{path}: not a readable image (unknown format or damaged header)") from None
    if width * height > max_pixels:
        raise ImageError(f"{path}: {width}x{height} pixels is over the budget of {max_pixels} "
                         f"(input.max_image_pixels)")
    return width, height


def read_image(path: str, max_pixels: int = InputConfig.max_image_pixels) -> np.ndarray:
    """Read an image file as 8-bit BGR, with a one-line error when it cannot be read.

    The header is read first: an image declaring more than ``max_pixels`` pixels
    (``input.max_image_pixels`` in configs/default.yaml) is refused before decoding, so a
    few hundred bytes cannot ask for gigabytes. OpenCV then decodes straight to 8-bit BGR
    (16-bit and alpha are dropped inside the decoder), so a 16-bit RGBA file never
    exists in memory at its full depth. EXIF orientation is ignored, as for arrays.
    """
    import os

    import cv2

    if not os.path.isfile(path):
        raise ImageError(f"{path}: no such file")
    data = np.fromfile(path, dtype=np.uint8)  # works for non-ASCII paths, unlike cv2.imread
    if not data.size:
        raise ImageError(f"{path}: not a readable image (empty file)")
    check_image_header(data, path, max_pixels)
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error:  # a header the decoder itself refuses
        image = None
    if image is None:
        raise ImageError(f"{path}: not a readable image (unknown format or truncated)")
    return to_bgr_uint8(image)
