"""`tracker-app install-desktop`: the menu entry and icon for the current user, as the
freedesktop specifications lay them out (no Qt needed)."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from tracker_app.app_assets import APP_ID, DESKTOP_ENTRY, ICON_SIZES, ICON_SVG, icon_png


def data_home(override: Path | None = None) -> Path:
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get("XDG_DATA_HOME")
    return Path(env) if env else Path.home() / ".local" / "share"


def launcher_command() -> str:
    """Exec= line: the tracker-app script beside this interpreter (a virtualenv is not on
    the desktop's PATH), else the one on PATH, else this interpreter with -m."""
    beside = Path(sys.executable).parent / "tracker-app"
    script = str(beside) if beside.is_file() else shutil.which("tracker-app")
    parts = [script] if script else [sys.executable, "-m", "tracker_app"]
    return " ".join(_quote(p) for p in parts) + " gui"


def _quote(arg: str) -> str:
    """Desktop Entry Exec quoting: double quotes, with ", `, $ and \\ escaped."""
    if not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`'):
        return arg
    return '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'


def install_desktop_entry(override: Path | None = None) -> list[Path]:
    """Write the icon (SVG and PNG sizes) and the .desktop file; return the paths written."""
    home = data_home(override)
    written: list[Path] = []
    icons = home / "icons" / "hicolor"
    targets = [(ICON_SVG, icons / "scalable" / "apps" / f"{APP_ID}.svg")]
    targets += [(icon_png(s), icons / f"{s}x{s}" / "apps" / f"{APP_ID}.png") for s in ICON_SIZES]
    for source, target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
        written.append(target)
    lines = []
    for line in DESKTOP_ENTRY.read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            line = f"Exec={launcher_command()}"
        elif line.startswith("TryExec="):
            continue  # Exec names an absolute path already
        lines.append(line)
    entry = home / "applications" / f"{APP_ID}.desktop"
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_text("\n".join(lines) + "\n", encoding="utf-8")
    written.append(entry)
    return written
