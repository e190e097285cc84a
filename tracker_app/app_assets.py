"""Files the desktop app ships in ``assets/`` (installed inside the package as
``tracker_app/assets``): the icon, the GLSL shaders and the freedesktop entry."""
from __future__ import annotations

import sys
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PyQt6.QtGui import QIcon
    from PyQt6.QtWidgets import QStyle, QWidget

    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

APP_ID = "tracker-app"
ASSETS: Traversable = resources.files("tracker_app") / "assets"
ICON_SVG: Traversable = ASSETS / f"{APP_ID}.svg"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)
DESKTOP_ENTRY: Traversable = ASSETS / f"{APP_ID}.desktop"


def icon_png(size: int) -> Traversable:
    return ASSETS / "icons" / f"{APP_ID}-{size}.png"


def shader_source(program: str, stage: str) -> str:
    """GLSL text of ``assets/shaders/<program>.<stage>.glsl`` (stage: vert or frag)."""
    return (ASSETS / "shaders" / f"{program}.{stage}.glsl").read_text(encoding="utf-8")


def standard_icon(widget: QWidget, pixmap: QStyle.StandardPixmap) -> QIcon:
    """One of the style's standard icons (play, open, ...), as ``widget`` is styled."""
    style = widget.style()
    assert style is not None  # a widget always has a style once the application exists
    return style.standardIcon(pixmap)


def app_icon() -> QIcon:
    """The window icon from the shipped PNG sizes (16-256 px; no SVG renderer needed)."""
    from PyQt6.QtGui import QIcon

    icon = QIcon()
    for size in ICON_SIZES:
        icon.addFile(str(icon_png(size)))
    return icon
