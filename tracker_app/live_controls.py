"""The Live commands: cameras in a chosen mode, mirror, Set neutral, VMC streaming, live options.

Owns what the Live menu and the Live panel ask of the window: each request goes to the
capture worker (which confirms through the model) and every choice is kept in the
settings (``set_options``). A request for the state the app is already in does nothing,
so a panel showing the model's state never starts anything.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from engine.vmc import VmcTarget, VmcTargetError
from tracker_app.cameras import CameraMode
from tracker_app.capture_worker import CaptureWorker
from tracker_app.settings import LiveOptions

if TYPE_CHECKING:
    from tracker_app.live_panel import LivePanel
    from tracker_app.main_window import MainWindow


class LiveControls:
    def __init__(self, window: MainWindow) -> None:
        self.window = window

    def connect_panel(self, panel: LivePanel) -> None:
        """The Live panel's requests come here, as the Live menu's do."""
        panel.options_changed.connect(self.set_options)
        panel.camera_requested.connect(self.open_camera)
        panel.streaming_toggled.connect(self.set_streaming)
        panel.neutral_requested.connect(self.set_neutral)
        panel.mirror_toggled.connect(self.set_mirror)

    def set_options(self, live: LiveOptions) -> None:
        """Keep ``live`` (the Live panel's choices) in the settings, and tell the worker."""
        window = self.window
        if live != window.settings.live:
            window.apply_settings(dataclasses.replace(window.settings, live=live))

    def open_camera(self, index: int, mode: CameraMode | None = None) -> None:
        """Camera ``index`` in ``mode`` (None: the camera's default); the choice is remembered."""
        from engine.video_source import CameraSource

        w, h, fps = (mode.width, mode.height, mode.fps) if mode is not None else (0, 0, 0.0)
        self.set_options(dataclasses.replace(self.window.settings.live, camera_width=w, camera_height=h,
                                             camera_fps=fps))
        self.window.open_source(lambda: CameraSource(index, width=w or None, height=h or None, fps=fps or None))

    def set_mirror(self, on: bool) -> None:
        """Mirror the view (and the streamed motion) for the kind of source open now."""
        source = self.window.model.source
        is_live = source is None or source.is_live
        live = self.window.settings.live
        self.set_options(dataclasses.replace(live, camera_mirror=bool(on)) if is_live
                         else dataclasses.replace(live, file_mirror=bool(on)))
        self.window.model.update_state(mirror=bool(on))

    def set_neutral(self) -> None:
        """The followed face as it is now becomes the rest pose and expression (pose reads 0)."""
        self.window.controller.submit(CaptureWorker.set_neutral)

    def set_streaming(self, on: bool) -> None:
        """Start (to the panel's host:port) or stop streaming over VMC; the worker confirms."""
        if on == (self.window.model.state.streaming is not None):
            return  # already so (the panel showing the state it was told)
        if not on:
            self.window.controller.submit(CaptureWorker.stop_streaming)
            return
        window, live = self.window, self.window.settings.live
        try:
            target = VmcTarget.parse(f"{live.stream_host}:{live.stream_port}")
        except VmcTargetError as e:
            window.live_panel.show_state(window.model.state.mirror, None)  # the tick the user made goes
            window.show_error("Cannot stream", str(e))
            return
        window.controller.submit(CaptureWorker.start_streaming, target)

