"""Cameras present on the machine, as (OpenCV index, display name), without opening them,
and the modes (resolution, frame rate) each reports.

Opening a camera to probe it is slow (up to seconds per index) and lights its LED,
so the list comes from the system: video4linux nodes in sysfs on Linux, Qt
Multimedia's device list elsewhere. An empty list is a normal answer.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

V4L_SYSFS = Path("/sys/class/video4linux")


def list_cameras() -> list[tuple[int, str]]:
    if sys.platform.startswith("linux"):
        return _linux_cameras(V4L_SYSFS)
    return _qt_cameras()


def _linux_cameras(sysfs: Path) -> list[tuple[int, str]]:
    found = []
    for node in sorted(sysfs.glob("video*"), key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else -1):
        if not node.name[5:].isdigit():
            continue
        # A UVC camera exposes two nodes; the one with index 0 is the picture, the other metadata.
        index_file = node / "index"
        try:
            if index_file.is_file() and index_file.read_text().strip() != "0":
                continue
            name = (node / "name").read_text().strip() if (node / "name").is_file() else node.name
        except OSError:
            continue
        found.append((int(node.name[5:]), name))
    return found


def _qt_cameras() -> list[tuple[int, str]]:
    try:
        from PyQt6.QtMultimedia import QMediaDevices
    except ImportError:  # Qt Multimedia (or its system libraries) missing: no list, "Open camera N" still works
        return []
    return [(i, dev.description()) for i, dev in enumerate(QMediaDevices.videoInputs())]


@dataclass(frozen=True)
class CameraMode:
    """One capture mode a camera reports."""

    width: int
    height: int
    fps: float

    def __str__(self) -> str:
        return f"{self.width}×{self.height} @ {self.fps:g} fps"


def camera_modes(index: int) -> list[CameraMode]:
    """Resolutions and highest frame rates camera ``index`` reports (Qt Multimedia's list of
    its formats), largest first; empty when Qt Multimedia is missing or the camera is unknown."""
    try:
        from PyQt6.QtMultimedia import QMediaDevices
    except ImportError:
        return []
    devices = list(QMediaDevices.videoInputs())
    # On Linux Qt names a camera by its device node; elsewhere its position is the OpenCV index.
    device = next((d for d in devices if bytes(d.id().data()).decode(errors="replace").endswith(f"video{index}")),
                  devices[index] if not sys.platform.startswith("linux") and index < len(devices) else None)
    if device is None:
        return []
    modes = {CameraMode(f.resolution().width(), f.resolution().height(), round(float(f.maxFrameRate()), 2))
             for f in device.videoFormats()}
    return sorted(modes, key=lambda m: (m.width * m.height, m.fps), reverse=True)
