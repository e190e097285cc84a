"""Start the desktop app: ``run_gui`` is what `tracker-app` and `tracker-app gui` call."""
from __future__ import annotations

import signal
import sys
from pathlib import Path

GL_VERSION = (3, 3)  # the shaders are GLSL 3.30 core
SIGNAL_POLL_MS = 250  # how often Python may run a Ctrl-C handler while Qt's loop runs


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


def make_application(argv: list[str] | None = None):
    """The QApplication (created with the GL format above unless one exists already)."""
    from PyQt6.QtWidgets import QApplication

    from tracker_app import __version__
    from tracker_app.app_assets import APP_ID, app_icon

    app = QApplication.instance()
    if app is None:
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
    """Open the main window, optionally straight on a video file or a camera; returns the exit code."""
    from engine.config import ConfigError, EngineConfig

    app = make_application()
    from tracker_app.main_window import MainWindow
    from tracker_app.settings import GuiConfig, SettingsStore

    try:
        engine_config = EngineConfig.load(config_path)
        gui_config = GuiConfig.load()
    except ConfigError as e:
        print(f"tracker-app: error: {e}", file=sys.stderr)
        return 1
    window = MainWindow(engine_config, gui_config, SettingsStore(), threads=threads)
    window.show()
    if video is not None:
        window.open_source(str(video))
    elif camera is not None:
        window.open_source(int(camera))
    previous_handler = _close_on_interrupt(window)
    try:
        return app.exec()
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        # Destroy the window (its GL context, the capture thread's objects) now rather
        # than whenever the garbage collector breaks its reference cycles.
        from PyQt6 import sip

        sip.delete(window)


def _close_on_interrupt(window):
    """Ctrl-C in the terminal closes the window the normal way (the capture thread stops).

    Python runs signal handlers only between bytecodes, and app.exec() is a C++ loop:
    a timer gives the interpreter a moment a few times a second. Returns the handler
    it replaced.
    """
    from PyQt6.QtCore import QTimer

    previous = signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(SIGNAL_POLL_MS)
    return previous
