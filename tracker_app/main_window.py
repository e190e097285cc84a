"""The main window: wiring only.

Builds the layout (the empty state or the GL view in the centre, the plots and live docks,
the toolbar, the status bar), connects the model's and the worker's reports to the
widgets, routes each command, and keeps the programmatic entry points that menus, tests
and scripts call (``open_source``, ``save_frame``, ``export_mesh``, ``start_recording``,
``apply_settings``, ...). Everything else lives elsewhere: the view state in
``ViewerModel``, the commands and their checked/enabled states in ``actions``, the
dialogs in ``window_dialogs``, the worker's reports in ``worker_link``, the Playback and
Live requests in ``playback_controls`` and ``live_controls``, choosing a source in
``source_choices``, the live readout in ``live_display``, the docks in ``side_docks`` and
``plots_dock``, the settings in force in ``settings_keeper``, drops in ``file_drops``,
closing in ``shutdown``, and the slow work in the capture worker (reached through
``CaptureController.submit``). Settings are loaded once, by the caller, and passed in.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PyQt6.QtCore import QEvent, QSize, pyqtSignal
from PyQt6.QtGui import QCloseEvent, QResizeEvent, QShowEvent
from PyQt6.QtWidgets import QInputDialog, QMainWindow, QMessageBox

from engine.config import EngineConfig
from engine.session import ExportOptions
from tracker_app.actions import Act, ActionSet, Slot, opacity_control
from tracker_app.app_assets import app_icon
from tracker_app.cameras import list_cameras
from tracker_app.capture_worker import CaptureController, CaptureWorker, SourceSpec
from tracker_app.display_pacing import FramePacer
from tracker_app.engine_loader import EngineLoader
from tracker_app.export_actions import MeshExportJob, MeshExports, save_frame_image
from tracker_app.file_drops import FileDrops
from tracker_app.gl_view import GLView
from tracker_app.live_controls import LiveControls
from tracker_app.live_display import LiveDisplay
from tracker_app.playback_controls import PlaybackControls
from tracker_app.seek_bar import SeekControls
from tracker_app.settings import AppSettings, GuiConfig, SettingsStore
from tracker_app.settings_keeper import SettingsKeeper
from tracker_app.shutdown import shut_down
from tracker_app.side_docks import SideDocks
from tracker_app.source_choices import SourceChoices
from tracker_app.status_bar import StatusBar
from tracker_app.viewer_model import SourceInfo, ViewerModel
from tracker_app.window_dialogs import APP_TITLE, DIALOG_MIN_WIDTH, WindowDialogs, about_box, message_box
from tracker_app.worker_link import WorkerLink

if TYPE_CHECKING:
    from tracker_app.plots import PosePlots

__all__ = ["DIALOG_MIN_WIDTH", "MainWindow"]


class MainWindow(QMainWindow):
    """The app window, built from ``settings`` (loaded once by the caller from ``store``)."""

    mesh_exported = pyqtSignal(list)  # paths written by export_mesh

    def __init__(self, engine_config: EngineConfig, gui_config: GuiConfig, store: SettingsStore,
                 settings: AppSettings, cameras: list[tuple[int, str]] | None = None,
                 engine_loader: EngineLoader | None = None) -> None:
        super().__init__()
        self.engine_config, self.gui_config, self.store = engine_config, gui_config, store
        self.default_settings = AppSettings.defaults(engine_config, gui_config)
        self.cameras = list_cameras() if cameras is None else cameras
        self.model = ViewerModel(settings.overlay, gui_config.history_seconds, engine_config.eyes)
        self.kept = SettingsKeeper(settings, store, self.model,
                                   lambda new: self.controller.submit(CaptureWorker.apply_settings, new))
        self.dialogs: list[QMessageBox] = []  # open error/info dialogs (non-modal to the event loop)
        self.errors: list[tuple[str, str]] = []  # every error shown, oldest first
        self.ask = WindowDialogs(self)
        self.live = LiveControls(self)
        self.playback = PlaybackControls(self)
        self.setWindowTitle(APP_TITLE)
        self.setWindowIcon(app_icon())
        self.drops = FileDrops(self)
        self.drops.dropped.connect(self.open_source)  # as File ▸ Open would (the first, of several)

        self.view = GLView(self.model)
        self.choices = SourceChoices(self.view, self.cameras, store, self.open_source, self.ask.choose_video,
                                     self.ask.choose_image_folder)
        self.empty_state, self.source_box = self.choices.empty_state, self.choices.picker
        self.setCentralWidget(self.choices.centre)
        docks = SideDocks(self, self.model, gui_config.refresh_hz, settings.live, self.cameras)
        self.plots_dock, self.live_dock, self.live_panel = docks.plots, docks.live, docks.panel

        self.status = StatusBar(self.model, gui_config.refresh_hz)
        self.setStatusBar(self.status)
        self.commands = ActionSet(self, self.model, self._handlers(), self.playback.set_speed)
        self.commands.build_menus(docks.toggles())
        self.seek = SeekControls(self.model, gui_config.seek_preview_ms)
        self.seek.bar.seek.connect(self.playback.seek)
        self.seek.bar.preview.connect(self.playback.seek)
        self.toolbar = self.commands.build_toolbar({Slot.SOURCE_PICKER: self.source_box, Slot.SEEK_BAR: self.seek.bar,
                                                   Slot.FRAME_LABEL: self.seek.label,
                                                   Slot.OPACITY: opacity_control(self.model)})

        self.controller = CaptureController(engine_config, settings, gui_config, parent=self,
                                            engine_loader=engine_loader)
        # Hands the worker's frame credits back at the pace the window paints (see display_pacing).
        self.frame_pacer = FramePacer(self, self.controller.frame_handled,
                                      lambda: self.isVisible() and not self.isMinimized())
        self.link = WorkerLink(self, self.controller.worker, self.model, self.status, self.frame_pacer, store,
                               gui_config.recent_files, lambda: self.settings, self.live.set_options,
                               self.show_dialog, self.show_error)
        self.live.connect_panel(self.live_panel)
        self.exports = MeshExports(engine_config.weights_dir, self.status, self.mesh_exported, self.show_error)
        self.controller.start()  # after connecting: a failure to load the models must reach a dialog

        self.model.source_changed.connect(self._on_source_changed)
        self.model.overlay_changed.connect(self.kept.keep_overlay)
        self.status.refreshed.connect(self.seek.show_frame)  # the counter follows the status's pace
        self.live_display = LiveDisplay(self.model, self.view, self.live_panel, self.status)
        self._on_source_changed(None)
        self.resize(QSize(1280, 720))
        self.plots_dock.set_initial_width(self)
        geometry = store.q.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    # -- building ------------------------------------------------------------------------------

    def _handlers(self) -> dict[Act, Callable[[bool], object]]:
        """What each command does: a programmatic entry point, a dialog, or a model change."""
        ask, model, playback = self.ask, self.model, self.playback
        return {
            Act.OPEN: lambda _on: ask.choose_video(), Act.OPEN_FOLDER: lambda _on: ask.choose_image_folder(),
            Act.OPEN_CAMERA_NUMBER: lambda _on: ask.choose_camera_number(),
            Act.SAVE_FRAME: lambda _on: ask.choose_frame_path(), Act.EXPORT_MESH: lambda _on: ask.choose_mesh_path(),
            Act.RECORD: ask.toggle_recording, Act.CLOSE: lambda _on: self.close_source(),
            Act.QUIT: lambda _on: self.close(), Act.PLAY: lambda _on: playback.toggle_play(),
            Act.STEP: lambda _on: playback.step(), Act.STEP_BACK: lambda _on: playback.step_back(),
            Act.RESTART: lambda _on: playback.seek(0), Act.GOTO: lambda _on: ask.choose_frame_number(),
            Act.LOOP: playback.set_loop,
            Act.VIEW_3D: model.set_view_3d, Act.RESET_CAMERA: lambda _on: self.view.reset_camera(),
            Act.MESH: lambda on: model.update_overlay(show_mesh=on),
            Act.WIREFRAME: lambda on: model.update_overlay(wireframe=on),
            Act.LANDMARKS: lambda on: model.update_overlay(show_landmarks=on),
            Act.AXES: lambda on: model.update_overlay(show_axes=on),
            Act.EYES: lambda on: model.update_overlay(show_eyes=on),
            Act.MIRROR: self.live.set_mirror, Act.NEUTRAL: lambda _on: self.live.set_neutral(),
            Act.STREAM: self.live.set_streaming, Act.SETTINGS: lambda _on: ask.edit_settings(),
            Act.ABOUT: lambda _on: about_box(self).open(),
        }

    # -- programmatic entry points -------------------------------------------------------------

    def open_source(self, spec: SourceSpec) -> None:
        """A video path, a camera index, or a factory of a VideoSource (tests); plays at once."""
        self.status.showMessage(f"Opening {spec if not callable(spec) else 'source'}…")
        self.choices.show_video(True)  # the view gets its GL context while the source opens
        self.controller.submit(CaptureWorker.open_source, spec)

    def close_source(self) -> None:
        self.controller.submit(CaptureWorker.close_source)

    # Playback's entry points, for scripts and tests; what each does is PlaybackControls'.
    def go_to_frame(self, index: int) -> None:
        self.playback.go_to_frame(index)

    def step_back(self) -> None:
        self.playback.step_back()

    def set_loop(self, on: bool) -> None:
        self.playback.set_loop(on)

    def set_speed(self, speed: float) -> None:
        self.playback.set_speed(speed)

    def save_frame(self, path: Path) -> Path:
        """The frame as shown (overlays included) at the video's resolution (3D View: the view)."""
        if self.model.frame is None:
            raise ValueError("no frame to save yet")
        image = self.view.grab_frame() if self.model.view_3d else self.view.grab_video_frame()
        written = save_frame_image(image, path)
        self.status.showMessage(f"Saved {written}", 8000)
        return written

    def export_mesh(self, path: Path) -> MeshExportJob:
        """Start writing the current frame's meshes; the job's signals tell when it is done."""
        if self.model.frame is None or not self.model.frame.n_faces:
            raise ValueError("no face in the current frame")
        return self.exports.start(self.model.frame, Path(path))

    def start_recording(self, folder: Path, exports: ExportOptions | None = None, from_start: bool = False) -> None:
        """Record into ``folder`` what ``tracker-app track`` writes (default: table + overlay video
        with the mesh when it is shown)."""
        if exports is None:
            exports = ExportOptions(video=True, render=("mesh",) if self.model.overlay.show_mesh else ())
        self.controller.submit(CaptureWorker.start_recording, Path(folder), exports, from_start)

    def stop_recording(self) -> None:
        self.controller.submit(CaptureWorker.stop_recording)

    @property
    def settings(self) -> AppSettings:
        """The settings in force (loaded once by the caller; ``apply_settings`` changes them)."""
        return self.kept.settings

    def apply_settings(self, new: AppSettings) -> None:
        self.kept.apply(new)

    def choose_camera_number(self) -> QInputDialog:
        return self.ask.choose_camera_number()

    def show_error(self, title: str, message: str) -> None:
        self.errors.append((title, message))
        self.status.showMessage(f"{title}: {message}", 15_000)
        self.choices.show_video(self.model.source is not None)  # a source that failed to open: the first page again
        self.show_dialog(QMessageBox.Icon.Warning, title, message)

    def show_dialog(self, icon: QMessageBox.Icon, title: str, text: str) -> QMessageBox:
        return message_box(self, self.dialogs, icon, title, text)

    def about_box(self) -> QMessageBox:
        return about_box(self)

    @property
    def plots(self) -> PosePlots:
        """The plots dock's widget, built on first use."""
        return self.plots_dock.build()

    @property
    def plots_built(self) -> bool:
        """Whether the plots exist yet (the window builds them after its first frame)."""
        return self.plots_dock.built

    # -- model observers ---------------------------------------------------------------------------

    def _on_source_changed(self, source: SourceInfo | None) -> None:
        self.setWindowTitle(f"{source.description} — {APP_TITLE}" if source is not None else APP_TITLE)
        self.commands.fill_sources(self.cameras, self.store.recent_files(), self.open_source)
        if source is None:
            self.live_display.show(None)
        self.choices.show(source)

    # -- window events --------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent | None) -> None:
        super().showEvent(event)
        self.plots_dock.window_shown()

    def event(self, event: QEvent | None) -> bool:
        kind = event.type() if event is not None else None
        # Hovering a menu sends status tips (empty ones too), which would wipe the status
        # bar's message (a saved file, an error); tips are tooltips here instead.
        if kind == QEvent.Type.StatusTip:
            return True
        if kind != QEvent.Type.UpdateRequest:
            return super().event(event)
        started = time.perf_counter()  # an update request paints and composes the window
        handled = super().event(event)
        self.frame_pacer.painted(time.perf_counter() - started)
        self.plots_dock.window_painted()
        return handled

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        super().resizeEvent(event)
        if event is not None:  # the video area has priority: the plots give way
            self.plots_dock.fit(self, event.size().width())

    def closeEvent(self, event: QCloseEvent | None) -> None:
        """Stop the capture thread before the widgets go (it may be mid-frame)."""
        self.store.q.setValue("window/geometry", self.saveGeometry())
        shut_down(self.dialogs, self.controller)
        super().closeEvent(event)
