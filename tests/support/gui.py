"""Helpers of the GUI tests: the real window with a throw-away settings file, event-loop waits,
QImage -> NumPy, and a real video behind the camera interface that stamps every grab."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PyQt6 import sip
from PyQt6.QtCore import QSettings
from PyQt6.QtGui import QImage
from PyQt6.QtTest import QTest

from engine.config import EngineConfig
from tracker_app.main_window import MainWindow
from tracker_app.settings import GuiConfig, SettingsStore, startup_settings

WAIT_S = 120.0  # generous: the machine running the tests may be busy with other work
WINDOW_SIZE = (1000, 640)


def settings_store(settings_dir: Path) -> SettingsStore:
    """A throw-away settings file (never the user's)."""
    return SettingsStore(QSettings(str(Path(settings_dir) / "settings.ini"), QSettings.Format.IniFormat))


def make_window(settings_dir: Path, threads: int | None = None,
                engine_config: EngineConfig | None = None, cameras: list[tuple[int, str]] | None = None) -> MainWindow:
    store = settings_store(settings_dir)
    engine, gui = engine_config or EngineConfig.load(), GuiConfig.load()
    window = MainWindow(engine, gui, store, startup_settings(engine, gui, store, threads), cameras=cameras or [])
    window.resize(*WINDOW_SIZE)
    window.show()
    return window


def close_window(window: MainWindow) -> None:
    window.close()
    assert window.controller.capture_thread.wait(10_000), "capture thread still running after close"
    # Destroy it now (GL context included), as run_gui does: a window left to the garbage
    # collector may be destroyed in the middle of the next window's GL code, and Qt leaves
    # no context current after destroying one.
    sip.delete(window)


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Run the event loop until ``predicate()`` holds (the GUI keeps working meanwhile)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        QTest.qWait(10)


def qimage_rgb(image: QImage) -> np.ndarray:
    """(h, w, 3) uint8 RGB copy of a QImage."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w, stride = image.height(), image.width(), image.bytesPerLine()
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    rows = np.frombuffer(ptr, np.uint8).reshape(h, stride)
    return rows[:, : w * 3].reshape(h, w, 3).copy()


class StampedCapture:
    """A real video file read like a camera: ``read()`` at most ``fps`` times a second (None: as
    fast as it decodes), and the monotonic time of every grab kept in ``grab_times`` (index =
    CameraSource's packet index)."""

    def __init__(self, path: Path, fps: float | None) -> None:
        self._cap = cv2.VideoCapture(str(path))
        assert self._cap.isOpened(), path
        self.period = 1.0 / fps if fps else 0.0
        self.grab_times: list[float] = []
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def read(self) -> tuple[bool, np.ndarray | None]:
        delay = self._next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next = max(self._next + self.period, time.monotonic() - self.period)
        ok, frame = self._cap.read()
        if ok:
            with self._lock:
                self.grab_times.append(time.monotonic())
        return ok, frame

    def get(self, prop: int) -> float:
        return 1.0 / self.period if prop == cv2.CAP_PROP_FPS and self.period else 0.0

    def release(self) -> None:
        self._cap.release()
