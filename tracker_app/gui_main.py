"""Start the desktop app: ``run_gui`` is what `tracker-app` and `tracker-app gui` call."""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Qt and the window are imported late: start-up loads the models first
    from PyQt6.QtWidgets import QApplication, QWidget

    from tracker_app.display_frame import DisplayFrame
    from tracker_app.main_window import MainWindow

GL_VERSION = (3, 3)  # the shaders are GLSL 3.30 core
SIGNAL_POLL_MS = 250  # how often Python may run a Ctrl-C handler while Qt's loop runs
STARTUP_REPORT_ENV = "TRACKER_APP_STARTUP_REPORT"  # file for StartupReport (measurements)


def configure_gl_format() -> None:
    """Ask for an OpenGL 3.3 core context with a depth buffer.

    Must run before the QApplication exists: Qt picks the context of every
    QOpenGLWidget from this default format.
    """
    from PyQt6.QtGui import QSurfaceFormat

    fmt = QSurfaceFormat()
    fmt.setVersion(*GL_VERSION)
    fmt.setProfile(QSurfaceFormat.OpenGLContextProfile.CoreProfile)
    fmt.setDepthBufferSize(24)
    fmt.setSwapInterval(1)
    QSurfaceFormat.setDefaultFormat(fmt)


def make_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created with the GL format above unless one exists already)."""
    from PyQt6.QtWidgets import QApplication

    from tracker_app import __version__
    from tracker_app.app_assets import APP_ID, app_icon

    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        app = existing
    else:
        configure_gl_format()
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName("tracker-app")
    app.setApplicationName("tracker-app")
    app.setApplicationDisplayName("3D Face Tracker")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)  # matches the installed tracker-app.desktop (icon on Wayland)
    app.setWindowIcon(app_icon())
    return app


def run_gui(video: Path | None = None, camera: int | None = None, config_path: Path | None = None,
            threads: int | None = None) -> int:
    """Open the main window, optionally straight on a video file or a camera; returns the exit code.

    The models start loading on a thread of their own (``EngineLoader``) as soon as the
    settings are known, before the heavy GUI modules are imported and the window built,
    so the two overlap; with ``TRACKER_APP_STARTUP_REPORT=FILE`` the moments the window
    was shown and the first frame with a tracked face was drawn are written to FILE.
    """
    # First of all: a Ctrl-C while the window is being built must not leave it and its
    # capture thread half made (the process then hung at exit).
    interrupt = CloseOnInterrupt()
    from engine.config import ConfigError, EngineConfig
    from tracker_app.engine_loader import EngineLoader
    from tracker_app.settings import GuiConfig, SettingsStore, startup_settings

    try:
        engine_config = EngineConfig.load(config_path)
        gui_config = GuiConfig.load()
    except ConfigError as e:
        interrupt.restore()
        print(f"tracker-app: error: {e}", file=sys.stderr)
        return 1
    app = make_application()
    # The settings are loaded once, here: the loader and the window get the same ones.
    problems: list[str] = []
    store = SettingsStore()
    settings = startup_settings(engine_config, gui_config, store, threads, report=problems.append)
    for problem in problems:
        print(f"tracker-app: warning: {problem}", file=sys.stderr)
    loader = EngineLoader(settings.engine_config(engine_config), settings.threads, video=video).start()

    from tracker_app.main_window import MainWindow

    window = MainWindow(engine_config, gui_config, store, settings, engine_loader=loader)
    if problems:
        window.status.showMessage("; ".join(problems), 15_000)
    try:
        if interrupt.attach(window):  # Ctrl-C came during start-up: closed before showing
            raise KeyboardInterrupt
        report = os.environ.get(STARTUP_REPORT_ENV)
        if report:
            StartupReport(window, Path(report))
        # Opened before the window is shown: the capture thread opens it and tracks the first
        # frames while the window maps and sets up OpenGL (measured: 0.1 s sooner on screen).
        if video is not None:
            window.open_source(str(video))
        elif camera is not None:
            window.open_source(int(camera))
        window.show()
        return app.exec()
    finally:
        interrupt.restore()
        # Destroy the window (its GL context, the capture thread's objects) now rather
        # than whenever the garbage collector breaks its reference cycles.
        from PyQt6 import sip

        sip.delete(window)


class StartupReport:
    """Writes when the window was first drawn and when the first frame with a tracked face
    was (``time.monotonic()``, comparable across processes on Linux), and the process's
    CPU seconds by then, as JSON, once."""

    def __init__(self, window: MainWindow, path: Path) -> None:
        self.path = path
        self.times: dict[str, float] = {"window_created": time.monotonic()}
        self._face_frame_pending = False
        # The models load on their own thread and may be ready before this report exists.
        if window.model.state.engine_ready:
            self._mark("engine_ready")
        window.controller.worker.engine_ready.connect(lambda: self._mark("engine_ready"))
        window.controller.worker.frame_ready.connect(self._on_frame)
        window.view.frameSwapped.connect(self._on_swapped)

    def _mark(self, name: str) -> None:
        self.times.setdefault(name, time.monotonic())

    def _on_frame(self, frame: DisplayFrame) -> None:
        # A frame means the engine was ready (its signal may have gone out before we connected).
        self._mark("engine_ready")
        if frame.n_faces:
            self._face_frame_pending = True

    def _on_swapped(self) -> None:
        self._mark("window_shown")
        if self._face_frame_pending and "first_tracked_frame" not in self.times:
            self._mark("first_tracked_frame")
            self.times["cpu_seconds"] = time.process_time()
            import json

            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(self.times))
            os.replace(tmp, self.path)


class CloseOnInterrupt:
    """Ctrl-C in the terminal closes the window the normal way (the capture thread stops).

    Installed before anything is built: a Ctrl-C during start-up is remembered, and the
    window is closed as soon as it exists. Python runs signal handlers only between
    bytecodes, and app.exec() is a C++ loop: a timer gives the interpreter a moment a few
    times a second.
    """

    def __init__(self) -> None:
        self.requested = False
        self._window: QWidget | None = None
        self._previous = signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, *_: object) -> None:
        self.requested = True
        if self._window is not None:
            # Not here: the handler may run inside any Python code Qt called, a paint
            # or the GL set-up among them, and closing there crashed. From the event loop.
            from PyQt6.QtCore import QTimer

            QTimer.singleShot(0, self._window.close)

    def attach(self, window: QWidget) -> bool:
        """From now on Ctrl-C closes ``window``; True (and the window closed) when it came already."""
        from PyQt6.QtCore import QTimer

        self._window = window
        if self.requested:
            window.close()
            return True
        wake = QTimer(window)
        wake.timeout.connect(lambda: None)
        wake.start(SIGNAL_POLL_MS)
        return False

    def restore(self) -> None:
        signal.signal(signal.SIGINT, self._previous)
