"""The window and the About box carry the app icon and the version."""
from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtGui import QImage

from tests.support.gui import qimage_rgb
from tracker_app import __version__
from tracker_app.app_assets import ICON_SIZES, icon_png

pytestmark = pytest.mark.gui


def _premultiplied(image: QImage) -> np.ndarray:
    """(h, w, 4) premultiplied ARGB bytes: equal images compare equal whatever their format."""
    image = image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    rows = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 4].reshape(image.height(), image.width(), 4).copy()


def test_window_icon_is_the_app_icon(window) -> None:
    icon = window.windowIcon()
    assert not icon.isNull()
    assert {s.width() for s in icon.availableSizes()} >= set(ICON_SIZES)
    for size in (16, 48, 256):
        shipped = _premultiplied(QImage(str(icon_png(size))))
        shown = _premultiplied(icon.pixmap(size, size).toImage())
        assert shown.shape == shipped.shape == (size, size, 4)
        assert np.array_equal(shown, shipped), f"{size} px icon differs from assets/icons"


def test_about_box_shows_icon_and_version(window) -> None:
    box = window.about_box()
    try:
        assert __version__ in box.text() and "Basel Face Model" in box.informativeText()
        pixmap = box.iconPixmap()
        assert not pixmap.isNull() and pixmap.width() >= 48
        # The tile's dark blue frame and the skin-coloured face both appear in the pixmap.
        rgb = qimage_rgb(pixmap.toImage())
        assert (np.abs(rgb.astype(int) - (43, 74, 111)).max(axis=2) < 40).any()
        assert (np.abs(rgb.astype(int) - (230, 180, 150)).max(axis=2) < 40).any()
    finally:
        box.deleteLater()
