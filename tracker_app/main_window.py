"""The main window: source picker, playback controls, GL view, plots dock, menus, status bar.

Wiring only. The ViewerModel holds the state, the GL view and the plots observe
it, and the capture worker (behind CaptureController) does all the slow work.
Worker signals arrive here as queued calls on the GUI thread and go straight into
the model; errors become non-blocking dialogs (``QMessageBox.open``), so the app
stays usable while one is up.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PyQt6.QtCore import QEvent, QSize, Qt, QThreadPool, QTimer, pyqtSignal, pyqtSlot
from PyQt6.QtGui import (QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QResizeEvent,
                         QShowEvent)
from PyQt6.QtWidgets import (QComboBox, QDockWidget, QFileDialog, QInputDialog, QLabel, QMainWindow,
                             QMessageBox, QSlider, QStyle, QToolBar, QToolButton, QWidget)

from engine.config import EngineConfig
from engine.expressions import BLENDSHAPE_NAMES
from engine.pipeline import STAGES
from engine.playback import plural
from engine.session import ExportOptions
from engine.vmc import LiveFrame, VmcTarget, VmcTargetError
from tracker_app import __version__
from tracker_app.app_assets import app_icon
from tracker_app.cameras import CameraMode, camera_modes, list_cameras
from tracker_app.capture_worker import CaptureController, SourceSpec
from tracker_app.display_frame import DisplayFrame
from tracker_app.display_pacing import FramePacer, SteadyLabel, Throttle
from tracker_app.engine_loader import EngineLoader
from tracker_app.export_actions import (FRAME_FORMATS, MESH_FORMATS, MeshExportJob, save_frame_image,
                                        session_folder)
from tracker_app.gl_view import GLView
from tracker_app.live_panel import LivePanel
from tracker_app.record_dialog import RecordDialog
from tracker_app.seek_bar import SeekBar
from tracker_app.settings import AppSettings, GuiConfig, SettingsStore
from tracker_app.settings_dialog import SettingsDialog
from tracker_app.viewer_model import SourceInfo, ViewerModel, engine_ms, frame_counter_text

if TYPE_CHECKING:
    from tracker_app.plots import PosePlots

VIDEO_PATTERNS = "*.mp4 *.avi *.mov *.mkv *.webm *.m4v *.mpg *.mpeg *.wmv"
IMAGE_PATTERNS = "*.jpg *.jpeg *.png *.bmp *.tif *.tiff *.webp"
OPEN_FILTER = (f"Videos and images ({VIDEO_PATTERNS} {IMAGE_PATTERNS});;Videos ({VIDEO_PATTERNS});;"
               f"Images ({IMAGE_PATTERNS});;All files (*)")
APP_TITLE = "3D Face Tracker"
EXPORT_WAIT_MS = 10_000
PLOTS_WIDTH = 380  # px, initial width of the plots dock
PLOTS_LATEST_MS = 1000  # the plots are built this long after the window is shown, at the latest
ABOUT_ICON_PX = 64
PLOTS_MAX_SHARE = 0.3  # the plots dock never takes more of the window's width: the video comes first
SPEEDS = (0.25, 0.5, 1.0, 1.5, 2.0)  # files: playback rates offered
DIALOG_MIN_WIDTH = 320  # px: input dialogs and message boxes stay readable (titles not cut off)
DIALOG_TITLE_SPARE_PX = 120  # room beside a dialog's title for the window manager's buttons


class MainWindow(QMainWindow):
    """The app window. ``open_source`` / ``save_frame`` / ``export_mesh`` / ``start_recording``
    are the programmatic entry points the menus use (and tests and scripts call)."""

    mesh_exported = pyqtSignal(list)  # paths written by export_mesh

    def __init__(self, engine_config: EngineConfig, gui_config: GuiConfig, store: SettingsStore,
                 threads: int | None = None, cameras: list[tuple[int, str]] | None = None,
                 engine_loader: EngineLoader | None = None) -> None:
        super().__init__()
        # Hands the worker's frame credits back at the pace the window paints (see display_pacing).
        self.frame_pacer = FramePacer(self, self._give_frame_credit,
                                      lambda: self.isVisible() and not self.isMinimized())
        self.engine_config = engine_config
        self.gui_config = gui_config
        self.store = store
        self.default_settings = AppSettings.defaults(engine_config, gui_config)
        self.settings = store.load(self.default_settings)
        if threads is not None:  # the command line wins for this run, without being saved
            self.settings = dataclasses.replace(self.settings, threads=threads)
        self.cameras = list_cameras() if cameras is None else cameras
        self.model = ViewerModel(self.settings.overlay, gui_config.history_seconds)
        self.dialogs: list[QMessageBox] = []  # open error/info dialogs (non-modal to the event loop)
        self.errors: list[tuple[str, str]] = []  # every error shown, oldest first
        self.engine_ready = False
        self._export_jobs: list[MeshExportJob] = []

        self.setWindowTitle(APP_TITLE)
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.view = GLView(self.model)
        self.setCentralWidget(self.view)
        # The plots (pyqtgraph) cost 0.2 s of start-up: the dock gets them after the window
        # has shown its first frame (see event), or when asked for (``plots``).
        self._plots: PosePlots | None = None
        self.plots_dock = QDockWidget("Pose and frame time", self)
        self.plots_dock.setObjectName("plots")
        self.plots_dock.setWidget(QWidget())
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.plots_dock)
        self.last_live: LiveFrame | None = None  # followed face of the last frame (pose vs neutral, weights)
        self.latency_ms = 0.0  # source grab -> on screen, of the last frame
        self.streaming: VmcTarget | None = None
        self.live_panel = LivePanel(self.settings.live, self.cameras, camera_modes, BLENDSHAPE_NAMES)
        self.live_dock = QDockWidget("Live and streaming", self)
        self.live_dock.setObjectName("live")
        self.live_dock.setWidget(self.live_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.live_dock)
        self.tabifyDockWidget(self.plots_dock, self.live_dock)
        self.plots_dock.raise_()

        self._make_actions()
        self._make_toolbar()
        self._make_menus()
        self._make_status_bar()

        self.controller = CaptureController(engine_config, self.settings, gui_config, parent=self,
                                            engine_loader=engine_loader)
        w = self.controller.worker
        w.engine_ready.connect(self._on_engine_ready)
        w.frame_ready.connect(self._on_frame)
        w.source_opened.connect(self._on_source_opened)
        w.source_closed.connect(self._on_source_closed)
        w.end_of_stream.connect(self._on_end_of_stream)
        w.frame_count_known.connect(self._on_frame_count_known)
        w.playing_changed.connect(self.model.set_playing)
        w.failed.connect(self.show_error)
        w.notice.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        w.no_faces.connect(lambda text: self._show_dialog(QMessageBox.Icon.Information, "No faces", text))
        w.recording_changed.connect(self._on_recording_changed)
        w.live_frame.connect(self._on_live_frame)
        w.calibration_changed.connect(self._on_calibration_changed)
        w.streaming_changed.connect(self._on_streaming_changed)
        p = self.live_panel
        p.options_changed.connect(self._set_live_options)
        p.camera_requested.connect(self.open_camera)
        p.streaming_toggled.connect(self.set_streaming)
        p.neutral_requested.connect(self.set_neutral)
        p.mirror_toggled.connect(self.set_mirror)
        self.controller.start()  # after connecting: a failure to load the models must reach a dialog

        self.model.playing_changed.connect(self._on_playing_changed)
        self.model.source_changed.connect(self._on_source_changed)
        self.model.overlay_changed.connect(self._on_overlay_changed)
        self.model.view_mode_changed.connect(self.act_view_3d.setChecked)
        self.model.recording_changed.connect(self._show_recording)
        self.model.focus_changed.connect(lambda track: self.statusBar().showMessage(
            "3D View: all faces framed" if track is None else f"3D View: centred on face #{track}", 5000))
        self._on_source_changed(None)
        self._status_stale = False
        self._status_refresh = Throttle(self, gui_config.refresh_hz, self._refresh_status)
        self.resize(QSize(1280, 720))
        self.resizeDocks([self.plots_dock], [PLOTS_WIDTH], Qt.Orientation.Horizontal)
        geometry = store.q.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    # -- building the UI ---------------------------------------------------------------------

    def _action(self, text: str, slot, shortcut: QKeySequence | str | None = None, checkable: bool = False,
                icon: QStyle.StandardPixmap | None = None, tip: str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        action.setCheckable(checkable)
        if tip:  # a tooltip, not a status tip: hovering a menu must not wipe the status bar's message
            action.setToolTip(tip)
        (action.toggled if checkable else action.triggered).connect(slot)
        self.addAction(action)  # shortcuts work even when the toolbar is hidden
        return action

    def _make_actions(self) -> None:
        SP = QStyle.StandardPixmap
        o = self.settings.overlay
        self.act_open = self._action("&Open Video or Image…", self.choose_video, QKeySequence.StandardKey.Open,
                                     icon=SP.SP_DialogOpenButton)
        self.act_open_folder = self._action("Open Image &Folder…", self.choose_image_folder, "Ctrl+Shift+O",
                                            tip="Play the images of a folder in name order, as a video")
        self.act_open_camera = self._action("Open Camera by &Number…", self.choose_camera_number)
        self.act_save_frame = self._action("&Save Frame As…", self.choose_frame_path, QKeySequence.StandardKey.Save,
                                           icon=SP.SP_DialogSaveButton, tip="Save the picture as shown")
        self.act_export_mesh = self._action("&Export Mesh…", self.choose_mesh_path, "Ctrl+E",
                                            tip="Save the current mesh as OBJ (textured) or PLY")
        self.act_record = self._action("&Record Session", self._toggle_recording, "Ctrl+R", checkable=True,
                                       tip="Write the tracking table and an overlay video")
        self.act_close = self._action("&Close Source", self.close_source, QKeySequence.StandardKey.Close)
        self.act_quit = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_play = self._action("&Play", self.toggle_play, Qt.Key.Key_Space, icon=SP.SP_MediaPlay)
        self.act_step = self._action("&Step Forward", self.step, Qt.Key.Key_Right,
                                     icon=SP.SP_MediaSkipForward, tip="Pause and show the next frame")
        self.act_step_back = self._action("Step &Back", self.step_back, Qt.Key.Key_Left,
                                          icon=SP.SP_MediaSeekBackward, tip="Pause and show the previous frame")
        self.act_restart = self._action("&Restart", lambda: self.controller.seek(0), Qt.Key.Key_Home,
                                        icon=SP.SP_MediaSkipBackward)
        self.act_goto = self._action("&Go to Frame…", self.choose_frame_number, "Ctrl+G",
                                     tip="Show a frame by its number (0-based, as in faces.csv)")
        self.act_loop = self._action("&Loop", self.set_loop, "Ctrl+L", checkable=True,
                                     tip="Files: start again at the end")
        self.speed_group = QActionGroup(self)
        self.speed_actions: dict[float, QAction] = {}
        for speed in SPEEDS:
            action = self._action(f"{speed:g}×", lambda on, v=speed: on and self.set_speed(v), checkable=True)
            action.blockSignals(True)
            action.setChecked(speed == 1.0)
            action.blockSignals(False)
            self.speed_group.addAction(action)
            self.speed_actions[speed] = action
        self.speed = 1.0
        self.act_view_3d = self._action("&3D View", self.model.set_view_3d, "Ctrl+3", checkable=True,
                                        tip="The mesh alone: drag to orbit, wheel to zoom, double-click to reset")
        self.act_reset_camera = self._action("Reset 3D &Camera", self._reset_camera, "Ctrl+0")
        self.act_mesh = self._action("&Mesh", lambda on: self.model.update_overlay(show_mesh=on), "M",
                                     checkable=True)
        self.act_wireframe = self._action("&Wireframe", lambda on: self.model.update_overlay(wireframe=on), "W",
                                          checkable=True)
        self.act_landmarks = self._action("&Landmarks", lambda on: self.model.update_overlay(show_landmarks=on),
                                          "L", checkable=True)
        self.act_axes = self._action("Pose &Axes", lambda on: self.model.update_overlay(show_axes=on), "A",
                                     checkable=True)
        self.act_mirror = self._action("M&irror", self.set_mirror, "Ctrl+M", checkable=True,
                                       tip="Show the picture (and stream the motion) like a mirror")
        self.act_neutral = self._action("Set &Neutral", self.set_neutral, "N",
                                        tip="The current face and pose are the rest pose")
        self.act_stream = self._action("S&tream over VMC", self.set_streaming, "Ctrl+T", checkable=True,
                                       tip="Send head pose and expressions to a VMC receiver")
        self.act_settings = self._action("&Settings…", self.edit_settings, "Ctrl+,")
        self.act_about = self._action("&About", self._about)
        for action, on in ((self.act_mesh, o.show_mesh), (self.act_wireframe, o.wireframe),
                           (self.act_landmarks, o.show_landmarks), (self.act_axes, o.show_axes)):
            action.blockSignals(True)
            action.setChecked(on)
            action.blockSignals(False)

    def _make_toolbar(self) -> None:
        bar = QToolBar("Playback", self)
        bar.setObjectName("playback")
        bar.setMovable(False)
        self.addToolBar(bar)
        self.source_box = QComboBox()
        self.source_box.setMinimumContentsLength(14)
        self.source_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.source_box.setToolTip("Video source: cameras, a video file, recent files")
        self.source_box.activated.connect(self._source_box_activated)
        bar.addWidget(self.source_box)
        bar.addSeparator()
        bar.addAction(self.act_restart)
        bar.addAction(self.act_step_back)
        bar.addAction(self.act_play)
        bar.addAction(self.act_step)
        self.seek_slider = SeekBar(self.gui_config.seek_preview_ms)
        self.seek_slider.setMinimumWidth(120)
        self.seek_slider.setToolTip("Seek (files): click to jump, drag to preview")
        self.seek_slider.seek.connect(lambda index: self.controller.seek(index))  # controller made later
        self.seek_slider.preview.connect(lambda index: self.controller.seek(index))
        self.seek_slider.dragged.connect(self._show_dragged_frame)
        bar.addWidget(self.seek_slider)
        self.frame_label = SteadyLabel("")
        self.frame_label.setMinimumWidth(80)
        bar.addWidget(self.frame_label)
        bar.addSeparator()
        # The main actions before the viewing options: a narrow window moves the last items into
        # the toolbar's overflow menu, and Record Session must not be one of them.
        bar.addAction(self.act_record)
        record_button = bar.widgetForAction(self.act_record)
        if isinstance(record_button, QToolButton):
            record_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        bar.addAction(self.act_view_3d)
        bar.addSeparator()
        bar.addWidget(QLabel(" Opacity "))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100)
        self.opacity_slider.setFixedWidth(80)
        self.opacity_slider.setValue(round(self.settings.overlay.mesh_opacity * 100))
        self.opacity_slider.setToolTip("Mesh opacity")
        self.opacity_slider.valueChanged.connect(lambda v: self.model.update_overlay(mesh_opacity=v / 100))
        bar.addWidget(self.opacity_slider)
        self.toolbar = bar
        self._fill_source_box()

    def _make_menus(self) -> None:
        menu = self.menuBar()
        file = menu.addMenu("&File")
        file.addAction(self.act_open)
        file.addAction(self.act_open_folder)
        self.camera_menu = file.addMenu("Open &Camera")
        self.recent_menu = file.addMenu("Open &Recent")
        file.addSeparator()
        for a in (self.act_save_frame, self.act_export_mesh, self.act_record):
            file.addAction(a)
        file.addSeparator()
        file.addAction(self.act_close)
        file.addAction(self.act_quit)
        playback = menu.addMenu("&Playback")
        for a in (self.act_play, self.act_step_back, self.act_step, self.act_restart, self.act_goto):
            playback.addAction(a)
        playback.addSeparator()
        playback.addAction(self.act_loop)
        speed_menu = playback.addMenu("&Speed")
        for action in self.speed_actions.values():
            speed_menu.addAction(action)
        view = menu.addMenu("&View")
        view.addAction(self.act_view_3d)
        view.addAction(self.act_reset_camera)
        self.focus_menu = view.addMenu("Centre 3D View &On")
        self.focus_menu.aboutToShow.connect(self._fill_focus_menu)
        view.addSeparator()
        for a in (self.act_mesh, self.act_wireframe, self.act_landmarks, self.act_axes):
            view.addAction(a)
        view.addSeparator()
        toggle_plots = self.plots_dock.toggleViewAction()
        toggle_plots.setShortcut(QKeySequence("F9"))
        view.addAction(toggle_plots)
        live = menu.addMenu("&Live")
        for a in (self.act_mirror, self.act_neutral, self.act_stream):
            live.addAction(a)
        live.addAction(self.live_dock.toggleViewAction())
        settings = menu.addMenu("&Settings")
        settings.addAction(self.act_settings)
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.act_about)
        for m in (file, playback, view, live, settings, help_menu):
            m.setToolTipsVisible(True)
        self._fill_camera_menu()
        self._fill_recent_menu()

    def _make_status_bar(self) -> None:
        bar = self.statusBar()
        self.fps_label = SteadyLabel("")
        self.timing_label = SteadyLabel("")
        self.faces_label = SteadyLabel("")
        self.recording_label = QLabel("")
        self.recording_label.setStyleSheet("color: #e04040; font-weight: bold")
        for label in (self.recording_label, self.faces_label, self.timing_label, self.fps_label):
            bar.addPermanentWidget(label)
        bar.showMessage("Loading the face tracker…")

    def _fill_source_box(self) -> None:
        box = self.source_box
        box.clear()
        source = self.model.source
        current = "No source" if source is None else source.description if source.is_live else Path(source.spec).name
        box.addItem(current, None)
        box.setItemData(0, source.description if source else None, Qt.ItemDataRole.ToolTipRole)
        for index, name in self.cameras:
            box.addItem(self.style().standardIcon(QStyle.StandardPixmap.SP_ComputerIcon),
                        f"Camera {index}: {name}", ("camera", index))
        box.addItem(self.style().standardIcon(QStyle.StandardPixmap.SP_DialogOpenButton), "Open video or image…",
                    ("browse", None))
        box.addItem(self.style().standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon), "Open image folder…",
                    ("folder", None))
        for path in self.store.recent_files():
            box.addItem(self.style().standardIcon(QStyle.StandardPixmap.SP_FileIcon), Path(path).name,
                        ("file", path))
            box.setItemData(box.count() - 1, path, Qt.ItemDataRole.ToolTipRole)
        box.setCurrentIndex(0)

    def _fill_camera_menu(self) -> None:
        self.camera_menu.clear()
        for index, name in self.cameras:
            self.camera_menu.addAction(f"Camera {index}: {name}", lambda i=index: self.open_source(i))
        if not self.cameras:
            self.camera_menu.addAction("No camera found").setEnabled(False)
        self.camera_menu.addSeparator()
        self.camera_menu.addAction(self.act_open_camera)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.store.recent_files()
        for i, path in enumerate(files):
            action = self.recent_menu.addAction(f"&{i + 1} {Path(path).name}", lambda p=path: self.open_source(p))
            action.setToolTip(path)
        self.recent_menu.setEnabled(bool(files))
        self.recent_menu.setToolTipsVisible(True)

    def _fill_focus_menu(self) -> None:
        """All faces, or one of the faces of the frame shown (also picked by a click in the 3D view)."""
        self.focus_menu.clear()
        group = QActionGroup(self.focus_menu)
        frame = self.model.frame
        ids = sorted(tf.track_id for tf in frame.result.faces) if frame is not None else []
        for label, track in [("&All Faces", None)] + [(f"Face #{i}", i) for i in ids]:
            action = self.focus_menu.addAction(label, lambda t=track: self.model.set_focus(t))
            action.setCheckable(True)
            action.setChecked(self.model.focus_track == track)
            group.addAction(action)

    # -- programmatic entry points -------------------------------------------------------------

    def open_source(self, spec: SourceSpec) -> None:
        """A video path, a camera index, or a factory of a VideoSource (tests); plays at once."""
        self.statusBar().showMessage(f"Opening {spec if not callable(spec) else 'source'}…")
        self.controller.open(spec)

    def close_source(self) -> None:
        self.controller.close_source()

    def open_camera(self, index: int, mode: CameraMode | None = None) -> None:
        """Camera ``index`` in ``mode`` (None: the camera's default); the choice is remembered."""
        from engine.video_source import CameraSource

        w, h, fps = (mode.width, mode.height, mode.fps) if mode is not None else (0, 0, 0.0)
        self._set_live_options(dataclasses.replace(self.settings.live, camera_width=w, camera_height=h,
                                                   camera_fps=fps))
        self.open_source(lambda: CameraSource(index, width=w or None, height=h or None, fps=fps or None))

    def set_mirror(self, on: bool) -> None:
        """Mirror the view (and the streamed motion) for the kind of source open now."""
        is_live = self.model.source is None or self.model.source.is_live
        key = "camera_mirror" if is_live else "file_mirror"
        self._set_live_options(dataclasses.replace(self.settings.live, **{key: bool(on)}))
        self._show_mirror(bool(on))

    def set_neutral(self) -> None:
        """The followed face as it is now becomes the rest pose and expression (pose reads 0)."""
        self.controller.set_neutral()

    def set_streaming(self, on: bool) -> None:
        """Start (to the panel's host:port) or stop streaming over VMC; the worker confirms."""
        if not on:
            self.controller.stop_streaming()
            return
        live = self.settings.live
        try:
            target = VmcTarget.parse(f"{live.stream_host}:{live.stream_port}")
        except VmcTargetError as e:
            self._on_streaming_changed(None)
            self.show_error("Cannot stream", str(e))
            return
        self.controller.start_streaming(target)

    def toggle_play(self) -> None:
        if self.model.playing:
            self.controller.pause()
        else:
            self.controller.play()

    def step(self) -> None:
        self.controller.step()

    def go_to_frame(self, index: int) -> None:
        """Files: pause and show frame ``index`` (0-based; clamped to the last frame)."""
        source = self.model.source
        if source is None or source.is_live:
            return
        self.controller.pause()
        self.controller.seek(max(0, int(index)))

    def set_loop(self, on: bool) -> None:
        """Files: start again at the end (a recording still ends there)."""
        if self.act_loop.isChecked() != on:
            self.act_loop.setChecked(on)  # toggled: comes back here
            return
        self.controller.set_loop(on)

    def set_speed(self, speed: float) -> None:
        """Files: playback rate, one of SPEEDS (every frame is still tracked)."""
        self.speed = float(speed)
        action = self.speed_actions[self.speed]
        action.blockSignals(True)
        action.setChecked(True)  # the group unchecks the others
        action.blockSignals(False)
        self.controller.set_speed(self.speed)
        self.statusBar().showMessage(f"Playback speed {self.speed:g}×", 4000)

    def step_back(self) -> None:
        """Files: pause and show the frame before the one shown (a seek: tracking restarts there)."""
        frame, source = self.model.frame, self.model.source
        if frame is None or source is None or source.is_live or frame.result.index == 0:
            return
        self.controller.pause()
        self.controller.seek(frame.result.index - 1)

    def save_frame(self, path: Path) -> Path:
        """The frame as shown (overlays included) at the video's resolution (3D View: the view)."""
        if self.model.frame is None:
            raise ValueError("no frame to save yet")
        image = self.view.grab_frame() if self.model.view_3d else self.view.grab_video_frame()
        written = save_frame_image(image, path)
        self.statusBar().showMessage(f"Saved {written}", 8000)
        return written

    def export_mesh(self, path: Path) -> MeshExportJob:
        """Start writing the current frame's meshes; the job's signals tell when it is done."""
        if self.model.frame is None or not self.model.frame.n_faces:
            raise ValueError("no face in the current frame")
        job = MeshExportJob(self.model.frame, Path(path), self.engine_config.weights_dir)
        job.signals.done.connect(lambda paths: self.statusBar().showMessage(
            "Wrote " + ", ".join(Path(p).name for p in paths), 10_000))
        job.signals.done.connect(self.mesh_exported)
        job.signals.failed.connect(lambda text: self.show_error("Export failed", text))
        job.signals.done.connect(lambda _p, j=job: self._export_jobs.remove(j))
        job.signals.failed.connect(lambda _t, j=job: self._export_jobs.remove(j))
        self._export_jobs.append(job)  # keep the runnable and its signals alive until it reports
        job.start()
        return job

    def start_recording(self, folder: Path, exports: ExportOptions | None = None, from_start: bool = False) -> None:
        """Record into ``folder`` what ``tracker-app track`` writes (default: table + overlay video
        with the mesh when it is shown)."""
        if exports is None:
            exports = ExportOptions(video=True, render=("mesh",) if self.model.overlay.show_mesh else ())
        self.controller.start_recording(Path(folder), exports, from_start)

    def stop_recording(self) -> None:
        self.controller.stop_recording()

    # -- user actions with dialogs ----------------------------------------------------------------

    def _start_folder(self) -> str:
        recent = self.store.recent_files()
        return str(Path(recent[0]).parent) if recent else ""

    def choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video or image", self._start_folder(), OPEN_FILTER)
        if path:
            self.open_source(path)

    def choose_image_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open image folder", self._start_folder())
        if path:
            self.open_source(path)

    def _int_dialog(self, title: str, label: str, value: int, lo: int, hi: int, on_ok) -> QInputDialog:
        """A non-blocking integer dialog, wide enough for its title."""
        dialog = QInputDialog(self)
        dialog.setWindowTitle(title)
        dialog.setLabelText(label)
        dialog.setInputMode(QInputDialog.InputMode.IntInput)
        dialog.setIntRange(lo, hi)
        dialog.setIntValue(value)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.intValueSelected.connect(on_ok)
        # QInputDialog sizes itself to its spin box, narrower than its title: the window manager
        # then cuts the title off. Its layout fixes the size, so the label sets the width.
        title_px = dialog.fontMetrics().horizontalAdvance(title) + DIALOG_TITLE_SPARE_PX
        dialog.findChild(QLabel).setMinimumWidth(max(DIALOG_MIN_WIDTH, title_px))
        dialog.open()
        return dialog

    def choose_camera_number(self) -> QInputDialog:
        return self._int_dialog("Open Camera by Number", "Camera number (OpenCV index):", 0, 0, 63,
                                self.open_source)

    def choose_frame_number(self) -> QInputDialog | None:
        source, frame = self.model.source, self.model.frame
        if source is None or source.is_live:
            self.statusBar().showMessage("Go to frame: open a video file first", 5000)
            return None
        last = max(0, (source.frame_count or 1) - 1)
        current = frame.result.index if frame is not None else 0
        about = "" if source.frame_count_exact else "about "
        return self._int_dialog("Go to frame", f"Frame number (0-based, {about}0–{last}):", current, 0, last,
                                self.go_to_frame)

    def choose_frame_path(self) -> None:
        if self.model.frame is None:
            self.show_error("Nothing to save", "Open a video or a camera first.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save frame", self._suggest("frame", ".png"), FRAME_FORMATS)
        if path:
            try:
                self.save_frame(Path(path))
            except (OSError, ValueError) as e:
                self.show_error("Cannot save the frame", str(e))

    def choose_mesh_path(self) -> None:
        if self.model.frame is None or not self.model.frame.n_faces:
            self.show_error("No mesh to export", "There is no face in the current frame.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export mesh", self._suggest("mesh", ".obj"), MESH_FORMATS)
        if path:
            self.export_mesh(Path(path))

    def _toggle_recording(self, on: bool) -> None:
        if on == (self.model.recording is not None):
            return
        if not on:
            self.stop_recording()
            return
        self.act_record.blockSignals(True)
        self.act_record.setChecked(False)  # checked again when the worker confirms
        self.act_record.blockSignals(False)
        if self.model.source is None:
            self.show_error("Nothing to record", "Open a video or a camera first.")
            return
        source = self.model.source
        dialog = RecordDialog(Path.cwd(), self.model.overlay.show_mesh, not source.is_live, self)
        if dialog.exec() != RecordDialog.DialogCode.Accepted:
            return
        try:
            request = dialog.request()
        except ValueError as e:
            self.show_error("Cannot record", str(e))
            return
        self.start_recording(session_folder(request.parent), request.exports, request.from_start)

    def edit_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self.default_settings, self)
        if dialog.exec() == SettingsDialog.DialogCode.Accepted:
            self.apply_settings(dialog.values())

    def apply_settings(self, new: AppSettings) -> None:
        worker_changed = new.engine_part() != self.settings.engine_part() or new.live != self.settings.live
        self.settings = new
        self.store.save(new)
        self.model.set_overlay(new.overlay)
        if worker_changed:
            self.controller.apply_settings(new)

    def _set_live_options(self, live) -> None:
        if live != self.settings.live:
            self.apply_settings(dataclasses.replace(self.settings, live=live))

    def _suggest(self, kind: str, suffix: str) -> str:
        frame = self.model.frame
        stem = Path(self.model.source.spec).stem if self.model.source and not self.model.source.is_live else "camera"
        index = frame.result.index if frame is not None else 0
        return str(Path.cwd() / f"{stem}_{kind}{index:05d}{suffix}")

    def _source_box_activated(self, row: int) -> None:
        data = self.source_box.itemData(row)
        self.source_box.setCurrentIndex(0)
        if not data:
            return
        kind, value = data
        if kind == "browse":
            self.choose_video()
        elif kind == "folder":
            self.choose_image_folder()
        else:
            self.open_source(value)

    def _reset_camera(self) -> None:
        self.view.camera.reset()
        self.view.update()

    def _about(self) -> None:
        self.about_box().open()

    def about_box(self) -> QMessageBox:
        """The Help ▸ About dialog (not shown yet): icon, version, licence note."""
        box = QMessageBox(self)
        box.setWindowTitle(f"About {APP_TITLE}")
        box.setIconPixmap(self.windowIcon().pixmap(ABOUT_ICON_PX, ABOUT_ICON_PX))
        box.setText(f"<b>{APP_TITLE}</b> {__version__}")
        box.setInformativeText("Realtime 3D dense face tracking (3DDFA_V2 family).\n\n"
                               "The 3D face model is derived from the Basel Face Model 2009 "
                               "and is for academic use only.")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        return box

    # -- dialogs --------------------------------------------------------------------------------------

    @pyqtSlot(str, str)
    def show_error(self, title: str, message: str) -> None:
        self.errors.append((title, message))
        self.statusBar().showMessage(f"{title}: {message}", 15_000)
        self._show_dialog(QMessageBox.Icon.Warning, title, message)

    def _show_dialog(self, icon: QMessageBox.Icon, title: str, text: str) -> QMessageBox:
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        # Long one-line messages wrap at a readable width instead of following a small window.
        box.setStyleSheet(f"QLabel {{ min-width: {DIALOG_MIN_WIDTH}px; }}")
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r, b=box: self.dialogs.remove(b) if b in self.dialogs else None)
        self.dialogs.append(box)
        box.open()  # returns at once: frames keep flowing behind the dialog
        return box

    # -- worker signals (GUI thread) -------------------------------------------------------------------

    @pyqtSlot()
    def _on_engine_ready(self) -> None:
        self.engine_ready = True
        if self.model.source is None:
            self.statusBar().showMessage("Ready: choose a camera or open a video", 10_000)

    def _give_frame_credit(self) -> None:
        self.controller.frame_handled()

    @pyqtSlot(object)
    def _on_frame(self, frame: DisplayFrame) -> None:
        self.frame_pacer.shown()
        now = time.monotonic()
        self.latency_ms = (now - frame.pulled_at) * 1000
        self.model.set_frame(frame, now)
        if self.model.playing:
            # Throttled: text changing 25 times a second is noise.
            self._status_stale = True
            self._status_refresh.request()
        else:
            self._show_frame_status(frame)  # a step or a seek: show it at once

    def _refresh_status(self) -> None:
        if self._status_stale and self.model.frame is not None:
            self._status_stale = False
            self._show_frame_status(self.model.frame)

    @pyqtSlot(object)
    def _on_live_frame(self, live: LiveFrame | None) -> None:
        self.last_live = live
        if not self.model.playing:  # a step, a seek or Set neutral: show it at once
            self._show_live(live)

    def _show_live(self, live: LiveFrame | None) -> None:
        """The readout on the view (pose relative to neutral, latency) and the weight bars."""
        self.live_panel.bars.set_weights(None if live is None else live.weights)
        if self.model.source is None:
            self.view.set_readout("")
            return
        latency = f"latency {self.latency_ms:4.0f} ms"
        if live is None:
            self.view.set_readout(f"no face\n{latency}")
            return
        m = live.motion
        self.view.set_readout(f"face {live.person_id}  yaw {m.yaw:+6.1f}°  pitch {m.pitch:+6.1f}°  "
                              f"roll {m.roll:+6.1f}°\n{latency}")

    @pyqtSlot(object)
    def _on_calibration_changed(self, calibration) -> None:
        self._set_live_options(dataclasses.replace(self.settings.live,
                                                   calibration=json.dumps(calibration.to_dict())))
        self.statusBar().showMessage("Neutral face set: pose and expressions are measured from it", 8000)

    @pyqtSlot(object)
    def _on_streaming_changed(self, target: VmcTarget | None) -> None:
        self.streaming = target
        self.live_panel.set_streaming(target)
        self.act_stream.blockSignals(True)
        self.act_stream.setChecked(target is not None)
        self.act_stream.blockSignals(False)

    def _show_mirror(self, on: bool) -> None:
        self.view.set_mirror(on)
        self.live_panel.set_mirror(on)
        self.act_mirror.blockSignals(True)
        self.act_mirror.setChecked(on)
        self.act_mirror.blockSignals(False)

    @pyqtSlot(object)
    def _on_source_opened(self, info: SourceInfo) -> None:
        self.model.set_source(info)
        self._show_mirror(self.settings.live.mirror_for(info.is_live))
        if not info.is_live and Path(info.spec).is_file():
            self.store.add_recent(str(Path(info.spec).resolve()), self.gui_config.recent_files)
            self._fill_recent_menu()
        self._fill_source_box()
        self.statusBar().showMessage(f"Playing {info.description}", 5000)

    @pyqtSlot()
    def _on_source_closed(self) -> None:
        self.model.set_source(None)
        self._fill_source_box()

    @pyqtSlot(int)
    def _on_end_of_stream(self, frames: int) -> None:
        source = self.model.source
        if source is not None and not source.is_live:
            self.model.update_frame_count(frames, exact=True)
            if self.act_loop.isChecked() and self.model.playing:
                self.statusBar().showMessage(f"Looping ({plural(frames, 'frame')})", 3000)
            elif frames == 1:
                self.statusBar().showMessage(f"Showing {Path(source.spec).name} (a single image)", 10_000)
            else:
                self.statusBar().showMessage(f"End of video ({plural(frames, 'frame')}): Play starts it again",
                                             10_000)

    @pyqtSlot(int)
    def _on_frame_count_known(self, frames: int) -> None:
        self.model.update_frame_count(frames, exact=True)

    @pyqtSlot(object)
    def _on_recording_changed(self, folder: Path | None) -> None:
        self.model.set_recording(folder)
        if folder is None and self.model.recording is None:
            self.statusBar().showMessage("Recording finished", 8000)

    # -- model observers --------------------------------------------------------------------------------

    def _on_playing_changed(self, playing: bool) -> None:
        SP = QStyle.StandardPixmap
        self.act_play.setText("&Pause" if playing else "&Play")
        if not playing:
            self._show_live(self.last_live)
        self.act_play.setIcon(self.style().standardIcon(SP.SP_MediaPause if playing else SP.SP_MediaPlay))
        if not playing:
            self.model.display_rate.reset()  # a rate measured before the pause says nothing about now
        # A pause (or a step) must not leave the status bar on an older frame until the
        # status timer's next tick.
        if self.model.frame is not None:
            self._status_stale = False
            self._show_frame_status(self.model.frame)

    def _on_source_changed(self, source: SourceInfo | None) -> None:
        has, is_file = source is not None, source is not None and not source.is_live
        for a in (self.act_play, self.act_step, self.act_close, self.act_save_frame, self.act_export_mesh,
                  self.act_record):
            a.setEnabled(has)
        for a in (self.act_restart, self.act_step_back, self.act_goto, self.act_loop, *self.speed_actions.values()):
            a.setEnabled(is_file)
        self.seek_slider.setEnabled(is_file)
        count = source.frame_count if is_file and source.frame_count else 0
        # While the count is the header's claim, a seek past the real end lands on the last
        # frame (the worker clamps it); the range shrinks as soon as the true count is known.
        self.seek_slider.blockSignals(True)
        self.seek_slider.setRange(0, max(0, count - 1))
        self.seek_slider.blockSignals(False)
        exact = is_file and source.frame_count_exact
        self.frame_label.setToolTip(
            "" if not is_file else "Frame number (0-based, as in faces.csv) / frames in the file" if exact
            else "~: the file header's frame count, not checked yet (counting…)")
        if is_file and self.model.frame is not None:
            self._show_frame_status(self.model.frame)
        self.setWindowTitle(f"{source.description} — {APP_TITLE}" if has else APP_TITLE)
        if not has:
            for label in (self.fps_label, self.timing_label, self.faces_label, self.frame_label):
                label.setText("")
            self.last_live = None
            self._show_live(None)

    def _on_overlay_changed(self, overlay) -> None:
        for action, on in ((self.act_mesh, overlay.show_mesh), (self.act_wireframe, overlay.wireframe),
                           (self.act_landmarks, overlay.show_landmarks), (self.act_axes, overlay.show_axes)):
            action.blockSignals(True)
            action.setChecked(on)
            action.blockSignals(False)
        self.opacity_slider.blockSignals(True)
        self.opacity_slider.setValue(round(overlay.mesh_opacity * 100))
        self.opacity_slider.blockSignals(False)
        if overlay != self.settings.overlay:
            self.settings = dataclasses.replace(self.settings, overlay=overlay)
            self.store.save(self.settings)

    def _show_recording(self, folder: Path | None) -> None:
        self.act_record.blockSignals(True)
        self.act_record.setChecked(folder is not None)
        self.act_record.blockSignals(False)
        self.recording_label.setText(f"● REC {folder.name}" if folder is not None else "")

    def _show_frame_status(self, frame: DisplayFrame) -> None:
        result, source = frame.result, self.model.source
        t = result.timings_ms
        # Decoding belongs to the source; the sum is the engine's time for this frame.
        stages = "  ".join(f"{name} {t.get(name, 0.0):.1f}" for name in STAGES if name != "decode")
        self.timing_label.setText(f"decode {t.get('decode', 0.0):.1f} |  {stages}  = {engine_ms(t):.1f} ms")
        rate = self.model.display_rate.rate()
        # Paused (or after a step) there is no rate to show; "0.0 fps" or the old figure would mislead.
        text = f"{rate:.1f} fps" if self.model.playing and rate > 0 else "paused" if not self.model.playing else ""
        if self.speed != 1.0 and source is not None and not source.is_live:
            text += f" ({self.speed:g}×)"
        if source is not None and source.is_live:
            text += f"  latency {1000 * (time.monotonic() - frame.pulled_at):.0f} ms  dropped {frame.frames_dropped}"
        self.fps_label.setText(text)
        self._show_live(self.last_live)
        n = frame.n_faces
        self.faces_label.setText("no face" if n == 0 else plural(n, "face"))
        if source is not None and not source.is_live:
            if source.frame_count and result.index >= source.frame_count:  # header shorter than the file
                self.model.update_frame_count(result.index + 1, exact=False)
                source = self.model.source
            self.frame_label.setText(frame_counter_text(result.index, source.frame_count,
                                                        source.frame_count_exact))
            if self.seek_slider.isSliderDown():  # the counter follows the handle while dragging
                self._show_dragged_frame(self.seek_slider.value())
            self.seek_slider.show_frame(result.index)
        else:
            self.frame_label.setText(f"frame {result.index}")

    def _show_dragged_frame(self, index: int) -> None:
        source = self.model.source
        if source is not None and not source.is_live:
            self.frame_label.setText(frame_counter_text(index, source.frame_count, source.frame_count_exact))

    @property
    def plots(self) -> PosePlots:
        """The plots dock's widget, built on first use."""
        if self._plots is None:
            from tracker_app.plots import PosePlots

            self._plots = PosePlots(self.model, self.gui_config.refresh_hz)
            self.plots_dock.setWidget(self._plots)
        return self._plots

    @property
    def plots_built(self) -> bool:
        """Whether the plots exist yet (the window builds them after its first frame)."""
        return self._plots is not None

    def _build_plots(self) -> None:
        self.plots  # noqa: B018 (the property builds them)

    # -- window events --------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._plots is None:  # no frame to wait for (no source, or it failed to open)
            QTimer.singleShot(PLOTS_LATEST_MS, self._build_plots)

    def event(self, event: QEvent) -> bool:
        # Hovering a menu sends status tips (empty ones too), which would wipe the status
        # bar's message (a saved file, an error); tips are tooltips here instead.
        if event.type() == QEvent.Type.StatusTip:
            return True
        if event.type() == QEvent.Type.UpdateRequest:  # paints and composes the window
            started = time.perf_counter()
            handled = super().event(event)
            self.frame_pacer.painted(time.perf_counter() - started)
            if self._plots is None and self.model.frame is not None:  # the first frame is on screen
                QTimer.singleShot(0, self._build_plots)
            return handled
        return super().event(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        # The video area has priority: in a narrow window the plots give up width first, and get
        # it back (up to their initial width) when the window grows again.
        if self.plots_dock.isVisible() and not self.plots_dock.isFloating():
            want = min(PLOTS_WIDTH, int(event.size().width() * PLOTS_MAX_SHARE))
            if self.plots_dock.width() != want:
                self.resizeDocks([self.plots_dock], [want], Qt.Orientation.Horizontal)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_source(urls[0].toLocalFile())

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop the capture thread before the widgets go (it may be mid-frame)."""
        self.store.q.setValue("window/geometry", self.saveGeometry())
        for box in list(self.dialogs):
            box.close()
        if not self.controller.stop():
            # Should not happen (a camera read blocks at most its timeout); say so rather than hang.
            print("tracker-app: the capture thread did not stop in time", flush=True)
        # Mesh exports run in the global pool: let them finish their files first.
        QThreadPool.globalInstance().waitForDone(EXPORT_WAIT_MS)
        super().closeEvent(event)
