"""Normalise whatever a user hands us into the 8-bit BGR frame the models expect."""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.config import PILLOW_HARD_PIXEL_LIMIT, InputConfig
from engine.errors import TrackerError
from engine.file_kinds import unusable_path_problem

# Frames beyond this many pixels per side are refused: the detector shrinks big
# frames anyway, and a 100k-pixel-wide image is almost surely a corrupt header.
MAX_SIDE = 16384
EXIF_ORIENTATION = 0x0112
# An image file is at most this many bytes per pixel (16-bit RGBA, uncompressed) plus its metadata.
MAX_BYTES_PER_PIXEL = 8


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


@dataclass(frozen=True)
class ImageHeader:
    """What an encoded image's header says, read without decoding its pixels."""

    width: int
    height: int
    orientation: int = 1  # EXIF Orientation (1: stored upright; 6: turn 90 degrees clockwise...)


def check_image_header(data: bytes | np.ndarray, path: str, max_pixels: int) -> tuple[int, int]:
    """(width, height) that an encoded image's header declares, read without decoding its
    pixels; ImageError when that is more than ``max_pixels`` pixels or the header is unreadable."""
    header = read_image_header(data, path, max_pixels)
    return header.width, header.height


def read_image_header(data: bytes | np.ndarray, path: str, max_pixels: int) -> ImageHeader:
    """The header of an encoded image, checked against the pixel budget ``max_pixels``.

    Pillow's ``Image.open`` reads only the header. It refuses by itself headers over twice
    its ``MAX_IMAGE_PIXELS`` (that is why ``input.max_image_pixels`` cannot go higher).
    A PNG's chunks are also walked and their checksums verified (no pixels decoded): a
    truncated or damaged PNG is refused here in one line, before libpng prints its own.
    """
    import io
    import warnings

    from PIL import Image, UnidentifiedImageError

    buffer = io.BytesIO(data if isinstance(data, bytes) else data.tobytes())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the budget decides
            with Image.open(buffer) as image:
                width, height = int(image.size[0]), int(image.size[1])
                if width * height > max_pixels:
                    raise ImageError(f"{path}: {width}x{height} pixels is over the budget of {max_pixels} "
                                     f"(input.max_image_pixels)")
                orientation = _orientation(image)
                is_png = image.format == "PNG"
            if is_png:  # verify() walks the chunks and must come straight after open
                buffer.seek(0)
                with Image.open(buffer) as image:
                    image.verify()
    except Image.DecompressionBombError:
        raise ImageError(f"{path}: its header declares more than {PILLOW_HARD_PIXEL_LIMIT} pixels, over the "
                         f"budget of {max_pixels} (input.max_image_pixels)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error, EOFError) as e:
        if isinstance(e, ImageError):
            raise
        raise ImageError(f"{path}: not a readable image (unknown format, damaged or truncated)") from None
    return ImageHeader(width, height, orientation)


def _orientation(image: Any) -> int:
    """The EXIF Orientation tag (1..8) of an opened Pillow image; 1 when absent or unreadable."""
    try:
        value = image.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # a damaged EXIF block must not refuse an image that decodes
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """``image`` as it is meant to be seen, given its EXIF Orientation (as Pillow's
    ``ImageOps.exif_transpose`` does): phone photos are often stored sideways with a tag."""
    import cv2

    if orientation == 2:
        return cv2.flip(image, 1)
    if orientation == 3:
        return cv2.rotate(image, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(image, 0)
    if orientation == 5:
        return cv2.transpose(image)
    if orientation == 6:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.flip(cv2.transpose(image), -1)
    if orientation == 8:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


def read_image(path: str, max_pixels: int = InputConfig.max_image_pixels) -> np.ndarray:
    """Read an image file as 8-bit BGR, upright, with a one-line error when it cannot be read.

    The one path by which still images are read (``detect``, ``track`` on an image or an
    image folder, the app). The header is read first: an image declaring more than
    ``max_pixels`` pixels (``input.max_image_pixels`` in configs/default.yaml) is refused
    before decoding, so a few hundred bytes cannot ask for gigabytes. OpenCV then decodes
    straight to 8-bit BGR (16-bit and alpha are dropped inside the decoder), so a 16-bit
    RGBA file never exists in memory at its full depth. The EXIF orientation is applied
    (a phone photo stored sideways is turned upright), so coordinates are in the upright
    image; arrays handed over directly are taken as they are.
    """
    import cv2

    problem = unusable_path_problem(path)
    if problem is not None:
        raise ImageError(f"{path}: {problem}")
    with open(path, "rb") as f:  # works for non-ASCII paths, unlike cv2.imread
        size = os.fstat(f.fileno()).st_size
        if size > max_pixels * MAX_BYTES_PER_PIXEL + (1 << 20):  # read nothing an image in budget cannot be
            raise ImageError(f"{path}: {size:,} bytes is more than any image within the budget of {max_pixels} "
                             "pixels (input.max_image_pixels)")
        data = np.frombuffer(f.read(), dtype=np.uint8)
    if not data.size:
        raise ImageError(f"{path}: not a readable image (empty file)")
    header = read_image_header(data, path, max_pixels)
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error:  # a header the decoder itself refuses
        image = None
    if image is None:
        raise ImageError(f"{path}: not a readable image (unknown format, damaged or truncated)")
    return to_bgr_uint8(upright(image, header.orientation))
