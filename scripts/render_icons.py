#!/usr/bin/env python3
"""Render assets/tracker-app.svg into the PNG sizes a desktop wants (assets/icons/).

    python scripts/render_icons.py

Run after editing the SVG; the PNGs are committed so the package needs no SVG renderer.
"""
from __future__ import annotations

import sys
from pathlib import Path

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QGuiApplication, QImage, QPainter
from PyQt6.QtSvg import QSvgRenderer

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SIZES = (16, 24, 32, 48, 64, 128, 256)


def main() -> int:
    app = QGuiApplication(sys.argv[:1] + ["-platform", "offscreen"])
    renderer = QSvgRenderer(str(ASSETS / "tracker-app.svg"))
    if not renderer.isValid():
        print(f"render_icons.py: error: {ASSETS / 'tracker-app.svg'} is not a valid SVG", file=sys.stderr)
        return 1
    out = ASSETS / "icons"
    out.mkdir(exist_ok=True)
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        path = out / f"tracker-app-{size}.png"
        if not image.save(str(path)):
            print(f"render_icons.py: error: cannot write {path}", file=sys.stderr)
            return 1
        print(path)
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
