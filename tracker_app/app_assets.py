"""Files the desktop app ships in ``assets/`` (installed inside the package as
``tracker_app/assets``): the icon, the GLSL shaders and the freedesktop entry."""
from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

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
