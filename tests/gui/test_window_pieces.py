"""Pieces the main window is wired from, each on its own: which drops it takes, how the
settings in force are kept and when the capture worker hears of a change."""
from __future__ import annotations

import dataclasses

import pytest
from PyQt6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PyQt6.QtGui import QDragEnterEvent, QDropEvent
from PyQt6.QtWidgets import QApplication, QWidget

from engine.config import EngineConfig
from tracker_app.file_drops import FileDrops
from tracker_app.settings import AppSettings, GuiConfig, SettingsStore
from tracker_app.settings_keeper import SettingsKeeper
from tracker_app.viewer_model import ViewerModel

pytestmark = pytest.mark.gui

BUTTONS, KEYS = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier


def _drag(widget: QWidget, urls: list[QUrl]) -> tuple[bool, QDropEvent]:
    """Drag ``urls`` onto ``widget``: whether it took the drag, and the drop event sent after."""
    mime = QMimeData()
    mime.setUrls(urls)
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, BUTTONS, KEYS)
    QApplication.sendEvent(widget, enter)
    drop = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, BUTTONS, KEYS)
    QApplication.sendEvent(widget, drop)
    return enter.isAccepted(), drop


def test_drops_take_the_first_local_path_and_leave_web_links(qtbot, obama, media_dir) -> None:
    widget = QWidget()
    qtbot.addWidget(widget)
    drops = FileDrops(widget)
    assert widget.acceptDrops()
    got: list[str] = []
    drops.dropped.connect(got.append)

    taken, drop = _drag(widget, [QUrl("https://example.org/clip.mp4")])
    assert not taken and not drop.isAccepted() and got == []  # nothing of ours to open

    others = sorted(p for p in media_dir.iterdir() if p != obama)
    taken, drop = _drag(widget, [QUrl("https://example.org/clip.mp4"), QUrl.fromLocalFile(str(obama)),
                                 QUrl.fromLocalFile(str(others[0]))])
    assert taken and drop.isAccepted()
    assert got == [str(obama)]  # one source at a time: the first local file of the drop


def test_settings_are_saved_at_once_and_the_worker_hears_only_of_its_part(tmp_path) -> None:
    engine, gui = EngineConfig.load(), GuiConfig.load()
    defaults = AppSettings.defaults(engine, gui)
    store = SettingsStore(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    model = ViewerModel(defaults.overlay, gui.history_seconds, engine.eyes)
    told: list[AppSettings] = []
    kept = SettingsKeeper(defaults, store, model, told.append)
    model.overlay_changed.connect(kept.keep_overlay)

    # An overlay switch is the window's alone: shown and saved, the worker not told.
    wire = dataclasses.replace(defaults, overlay=dataclasses.replace(defaults.overlay,
                                                                     wireframe=not defaults.overlay.wireframe))
    kept.apply(wire)
    assert kept.settings == wire and model.overlay == wire.overlay and told == []
    assert store.load(defaults) == wire

    # The smoother is the worker's: it is told, once.
    other = "realtime" if defaults.smoother != "realtime" else "lookahead"
    smoother = dataclasses.replace(wire, smoother=other)
    kept.apply(smoother)
    assert told == [smoother] and store.load(defaults) == smoother

    # A switch made in the window (a menu, a key) changes the model first; the settings follow.
    model.update_overlay(show_landmarks=not smoother.overlay.show_landmarks)
    assert kept.settings.overlay == model.overlay != smoother.overlay
    assert store.load(defaults).overlay == model.overlay and told == [smoother]
