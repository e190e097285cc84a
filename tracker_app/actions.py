"""The window's commands, menus and toolbar, declared as data.

Owns what every command is called, its shortcut, icon and tooltip, where it sits in
the menus and on the toolbar, and how its checked, enabled and label states follow the
``ViewerModel`` (napari's actions: id, callback, shortcut, state read from the model).
``MainWindow`` gives each command its callback; ``ActionSet`` builds the QActions,
the menus and the toolbar from the tables below and re-reads every state from the
model whenever the model changes, so no widget state is set by hand and no signal
needs blocking. A new command is a row in ``ACTIONS`` and a place in ``MENUS``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from enum import Enum, auto
from typing import Union

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction, QActionGroup, QKeySequence
from PyQt6.QtWidgets import (QHBoxLayout, QLabel, QMainWindow, QMenu, QSlider, QStyle, QToolBar, QToolButton,
                             QWidget)

from tracker_app.app_assets import standard_icon
from tracker_app.viewer_model import ViewerModel, face_label

SP = QStyle.StandardPixmap
SPEEDS = (0.25, 0.5, 1.0, 1.5, 2.0)  # files: playback rates offered
PLOTS_SHORTCUT = "F9"
OPACITY_WIDTH = 80  # px


class Act(Enum):
    """Every command of the window."""

    OPEN = auto()
    OPEN_FOLDER = auto()
    OPEN_CAMERA_NUMBER = auto()
    SAVE_FRAME = auto()
    EXPORT_MESH = auto()
    RECORD = auto()
    CLOSE = auto()
    QUIT = auto()
    PLAY = auto()
    STEP = auto()
    STEP_BACK = auto()
    RESTART = auto()
    GOTO = auto()
    LOOP = auto()
    VIEW_3D = auto()
    RESET_CAMERA = auto()
    MESH = auto()
    WIREFRAME = auto()
    LANDMARKS = auto()
    AXES = auto()
    EYES = auto()
    MIRROR = auto()
    NEUTRAL = auto()
    STREAM = auto()
    SETTINGS = auto()
    ABOUT = auto()


class Slot(Enum):
    """Places in the menus and the toolbar filled by something other than a command."""

    SEPARATOR = auto()
    CAMERA_MENU = auto()  # File ▸ Open Camera (the cameras found)
    RECENT_MENU = auto()  # File ▸ Open Recent
    SPEED_MENU = auto()  # Playback ▸ Speed (SPEEDS)
    FOCUS_MENU = auto()  # View ▸ Centre 3D View On (the faces of the frame)
    PLOTS_DOCK = auto()  # the plots dock's show/hide toggle
    LIVE_DOCK = auto()  # the live dock's show/hide toggle
    SOURCE_PICKER = auto()  # toolbar widgets, made by the window
    SEEK_BAR = auto()
    FRAME_LABEL = auto()
    OPACITY = auto()


Item = Union[Act, Slot]
State = Callable[[ViewerModel], bool]


def _always(_model: ViewerModel) -> bool:
    return True


def _has_source(model: ViewerModel) -> bool:
    return model.source is not None


def _is_file(model: ViewerModel) -> bool:
    return model.is_file


@dataclass(frozen=True)
class Look:
    """What an action shows: its text and icon."""

    text: str
    icon: QStyle.StandardPixmap | None = None


@dataclass(frozen=True)
class ActionSpec:
    """One command. ``checked`` makes it checkable, its state read from the model."""

    act: Act
    look: Look
    shortcut: QKeySequence.StandardKey | Qt.Key | str | None = None
    tip: str = ""  # a tooltip, not a status tip: hovering a menu must not wipe the status bar's message
    checked: State | None = None
    enabled: State = _always
    alternate: Look | None = None  # shown while ``alternate_when`` holds (Play / Pause)
    alternate_when: State | None = None
    text_button: bool = False  # on the toolbar as text (Record Session stays readable)


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(Act.OPEN, Look("&Open Video or Image…", SP.SP_DialogOpenButton), QKeySequence.StandardKey.Open),
    ActionSpec(Act.OPEN_FOLDER, Look("Open Image &Folder…"), "Ctrl+Shift+O",
               tip="Play the images of a folder in name order, as a video"),
    ActionSpec(Act.OPEN_CAMERA_NUMBER, Look("Open Camera by &Number…")),
    ActionSpec(Act.SAVE_FRAME, Look("&Save Frame As…", SP.SP_DialogSaveButton), QKeySequence.StandardKey.Save,
               tip="Save the picture as shown", enabled=_has_source),
    ActionSpec(Act.EXPORT_MESH, Look("&Export Mesh…"), "Ctrl+E", tip="Save the current mesh as OBJ (textured) or PLY",
               enabled=_has_source),
    ActionSpec(Act.RECORD, Look("&Record Session"), "Ctrl+R", tip="Write the tracking table and an overlay video",
               checked=lambda m: m.recording is not None, enabled=_has_source, text_button=True),
    ActionSpec(Act.CLOSE, Look("&Close Source"), QKeySequence.StandardKey.Close, enabled=_has_source),
    ActionSpec(Act.QUIT, Look("&Quit"), QKeySequence.StandardKey.Quit),
    ActionSpec(Act.PLAY, Look("&Play", SP.SP_MediaPlay), Qt.Key.Key_Space, enabled=_has_source,
               alternate=Look("&Pause", SP.SP_MediaPause), alternate_when=lambda m: m.playing),
    ActionSpec(Act.STEP, Look("&Step Forward", SP.SP_MediaSkipForward), Qt.Key.Key_Right,
               tip="Pause and show the next frame", enabled=_has_source),
    ActionSpec(Act.STEP_BACK, Look("Step &Back", SP.SP_MediaSeekBackward), Qt.Key.Key_Left,
               tip="Pause and show the previous frame", enabled=_is_file),
    ActionSpec(Act.RESTART, Look("&Restart", SP.SP_MediaSkipBackward), Qt.Key.Key_Home, enabled=_is_file),
    ActionSpec(Act.GOTO, Look("&Go to Frame…"), "Ctrl+G", tip="Show a frame by its number (0-based, as in faces.csv)",
               enabled=_is_file),
    ActionSpec(Act.LOOP, Look("&Loop"), "Ctrl+L", tip="Files: start again at the end",
               checked=lambda m: m.state.loop, enabled=_is_file),
    ActionSpec(Act.VIEW_3D, Look("&3D View"), "Ctrl+3",
               tip="The mesh alone: drag to orbit, wheel to zoom, double-click to reset",
               checked=lambda m: m.view_3d),
    ActionSpec(Act.RESET_CAMERA, Look("Reset 3D &Camera"), "Ctrl+0"),
    ActionSpec(Act.MESH, Look("&Mesh"), "M", checked=lambda m: m.overlay.show_mesh),
    ActionSpec(Act.WIREFRAME, Look("&Wireframe"), "W", checked=lambda m: m.overlay.wireframe),
    ActionSpec(Act.LANDMARKS, Look("&Landmarks"), "L", checked=lambda m: m.overlay.show_landmarks),
    ActionSpec(Act.AXES, Look("Pose &Axes"), "A", checked=lambda m: m.overlay.show_axes),
    ActionSpec(Act.EYES, Look("&Eyes"), "E", tip="Eyelid contours (white open, magenta closed) and gaze arrows",
               checked=lambda m: m.overlay.show_eyes),
    ActionSpec(Act.MIRROR, Look("M&irror"), "Ctrl+M", tip="Show the picture (and stream the motion) like a mirror",
               checked=lambda m: m.state.mirror),
    ActionSpec(Act.NEUTRAL, Look("Set &Neutral"), "N", tip="The current face and pose are the rest pose"),
    ActionSpec(Act.STREAM, Look("S&tream over VMC"), "Ctrl+T", tip="Send head pose and expressions to a VMC receiver",
               checked=lambda m: m.state.streaming is not None),
    ActionSpec(Act.SETTINGS, Look("&Settings…"), "Ctrl+,"),
    ActionSpec(Act.ABOUT, Look("&About")),
)

SEP = Slot.SEPARATOR
MENUS: tuple[tuple[str, tuple[Item, ...]], ...] = (
    ("&File", (Act.OPEN, Act.OPEN_FOLDER, Slot.CAMERA_MENU, Slot.RECENT_MENU, SEP, Act.SAVE_FRAME,
               Act.EXPORT_MESH, Act.RECORD, SEP, Act.CLOSE, Act.QUIT)),
    ("&Playback", (Act.PLAY, Act.STEP_BACK, Act.STEP, Act.RESTART, Act.GOTO, SEP, Act.LOOP, Slot.SPEED_MENU)),
    ("&View", (Act.VIEW_3D, Act.RESET_CAMERA, Slot.FOCUS_MENU, SEP, Act.MESH, Act.WIREFRAME, Act.LANDMARKS,
               Act.AXES, Act.EYES, SEP, Slot.PLOTS_DOCK)),
    ("&Live", (Act.MIRROR, Act.NEUTRAL, Act.STREAM, Slot.LIVE_DOCK)),
    ("&Settings", (Act.SETTINGS,)),
    ("&Help", (Act.ABOUT,)),
)
SUBMENUS: Mapping[Slot, str] = {Slot.CAMERA_MENU: "Open &Camera", Slot.RECENT_MENU: "Open &Recent",
                                Slot.SPEED_MENU: "&Speed", Slot.FOCUS_MENU: "Centre 3D View &On"}
# The main commands before the viewing options: a narrow window moves the last items into
# the toolbar's overflow menu, and Record Session must not be one of them.
TOOLBAR: tuple[Item, ...] = (Slot.SOURCE_PICKER, SEP, Act.RESTART, Act.STEP_BACK, Act.PLAY, Act.STEP, Slot.SEEK_BAR,
                             Slot.FRAME_LABEL, SEP, Act.RECORD, Act.VIEW_3D, SEP, Slot.OPACITY)


class ActionSet:
    """The QActions of ``ACTIONS`` (and of ``SPEEDS``), their menus and toolbar, kept in step with
    the model. ``actions[Act.X]`` is a command; ``speed[rate]`` a Playback ▸ Speed entry;
    ``menus[Slot.X]`` a submenu the window fills."""

    def __init__(self, window: QMainWindow, model: ViewerModel, handlers: Mapping[Act, Callable[[bool], object]],
                 on_speed: Callable[[float], None]) -> None:
        self.model = model
        self.window = window
        self.actions: dict[Act, QAction] = {}
        self._specs = {spec.act: spec for spec in ACTIONS}
        for spec in ACTIONS:
            action = QAction(spec.look.text, window)
            if spec.shortcut is not None:
                action.setShortcut(QKeySequence(spec.shortcut))
            if spec.look.icon is not None:
                action.setIcon(standard_icon(window, spec.look.icon))
            action.setCheckable(spec.checked is not None)
            if spec.tip:
                action.setToolTip(spec.tip)
            # triggered, not toggled: only the user (or trigger()) calls back, never a state read
            # from the model, so keeping the two in step needs no blocked signals.
            action.triggered.connect(lambda on, h=handlers[spec.act]: self._run(h, on))
            window.addAction(action)  # shortcuts work even when the toolbar is hidden
            self.actions[spec.act] = action
        group = QActionGroup(window)
        self.speed: dict[float, QAction] = {}
        for rate in SPEEDS:
            action = QAction(f"{rate:g}×", window)
            action.setCheckable(True)
            action.triggered.connect(lambda _on, r=rate: self._run(lambda _: on_speed(r), True))
            group.addAction(action)
            self.speed[rate] = action
        self.menus: dict[Slot, QMenu] = {}
        for event in (model.state_changed, model.overlay_changed, model.view_mode_changed):
            event.connect(lambda _value: self.sync())
        self.sync()

    def __getitem__(self, act: Act) -> QAction:
        return self.actions[act]

    def _run(self, handler: Callable[[bool], object], on: bool) -> None:
        self.sync()  # until the app confirms, the model's state, not the click's (a refused Record stays off)
        handler(on)
        self.sync()  # a request the app refused or has not confirmed yet shows the model's state again

    def sync(self) -> None:
        """Every action's checked, enabled, text and icon state from the model."""
        model = self.model
        for act, spec in self._specs.items():
            action = self.actions[act]
            if spec.checked is not None:
                action.setChecked(spec.checked(model))
            action.setEnabled(spec.enabled(model))
            if spec.alternate is not None and spec.alternate_when is not None:
                look = spec.alternate if spec.alternate_when(model) else spec.look
                if action.text() != look.text:
                    action.setText(look.text)
                    if look.icon is not None:
                        action.setIcon(standard_icon(self.window, look.icon))
        for rate, action in self.speed.items():
            action.setChecked(rate == model.state.speed)
            action.setEnabled(model.is_file)

    def build_menus(self, docks: Mapping[Slot, QAction]) -> None:
        """The menu bar from ``MENUS``; ``docks`` gives the dock toggles placed in it."""
        docks[Slot.PLOTS_DOCK].setShortcut(QKeySequence(PLOTS_SHORTCUT))
        bar = self.window.menuBar()
        assert bar is not None
        for title, items in MENUS:
            menu = bar.addMenu(title)
            assert menu is not None
            menu.setToolTipsVisible(True)
            for item in items:
                if item is Slot.SEPARATOR:
                    menu.addSeparator()
                elif isinstance(item, Act):
                    menu.addAction(self.actions[item])
                elif item in docks:
                    menu.addAction(docks[item])
                else:
                    sub = menu.addMenu(SUBMENUS[item])
                    assert sub is not None
                    sub.setToolTipsVisible(True)
                    self.menus[item] = sub
        for action in self.speed.values():
            self.menus[Slot.SPEED_MENU].addAction(action)
        focus = self.menus[Slot.FOCUS_MENU]
        focus.aboutToShow.connect(self._fill_focus)

    def fill_sources(self, cameras: list[tuple[int, str]], recent: list[str],
                     open_source: Callable[[int | str], None]) -> None:
        """File ▸ Open Camera (the cameras found) and File ▸ Open Recent (``recent``, newest first)."""
        menu = self.menus[Slot.CAMERA_MENU]
        menu.clear()
        for index, name in cameras:
            menu.addAction(f"Camera {index}: {name}", lambda i=index: open_source(i))
        if not cameras:
            nothing = menu.addAction("No camera found")
            assert nothing is not None
            nothing.setEnabled(False)
        menu.addSeparator()
        menu.addAction(self.actions[Act.OPEN_CAMERA_NUMBER])
        menu = self.menus[Slot.RECENT_MENU]
        menu.clear()
        for i, path in enumerate(recent):
            action = menu.addAction(f"&{i + 1} {Path(path).name}", lambda p=path: open_source(p))
            assert action is not None
            action.setToolTip(path)
        menu.setEnabled(bool(recent))

    def _fill_focus(self) -> None:
        """All faces, or one of the faces of the frame shown (also picked by a click in the 3D view)."""
        menu, model = self.menus[Slot.FOCUS_MENU], self.model
        menu.clear()
        ids = sorted(tf.person_id for tf in model.frame.result.faces) if model.frame is not None else []
        for label, track in [("&All Faces", None)] + [(face_label(i), i) for i in ids]:
            action = menu.addAction(label, lambda t=track: model.set_focus(t))
            assert action is not None
            action.setCheckable(True)
            action.setChecked(model.focus_person == track)

    def build_toolbar(self, widgets: Mapping[Slot, QWidget]) -> QToolBar:
        """The toolbar from ``TOOLBAR``; ``widgets`` gives the window's widgets placed in it."""
        bar = QToolBar("Playback", self.window)
        bar.setObjectName("playback")
        bar.setMovable(False)
        self.window.addToolBar(bar)
        for item in TOOLBAR:
            if item is Slot.SEPARATOR:
                bar.addSeparator()
            elif isinstance(item, Act):
                bar.addAction(self.actions[item])
                button = bar.widgetForAction(self.actions[item])
                if self._specs[item].text_button and isinstance(button, QToolButton):
                    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            else:
                bar.addWidget(widgets[item])
        return bar


def opacity_control(model: ViewerModel) -> QWidget:
    """The toolbar's mesh opacity slider, in step with the model's overlay options."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(QLabel(" Opacity "))
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, 100)
    slider.setFixedWidth(OPACITY_WIDTH)
    slider.setToolTip("Mesh opacity")
    slider.setValue(round(model.overlay.mesh_opacity * 100))
    # actionTriggered comes from the user only (drag, click, keys); the model sets the value back.
    slider.actionTriggered.connect(lambda _a: model.update_overlay(mesh_opacity=slider.sliderPosition() / 100))
    model.overlay_changed.connect(lambda o: slider.setValue(round(o.mesh_opacity * 100)))
    row.addWidget(slider)
    return box
