"""The window's dialogs: messages, About, and every "choose a file / a number / a folder" step.

Owns how a dialog looks and behaves (non-blocking where it can be, wide enough for its
title, long messages wrapped at a readable width) and what each menu command asks the
user before it calls the window's programmatic entry point (``open_source``,
``save_frame``, ``export_mesh``, ``start_recording``, ``apply_settings``, ``go_to_frame``).
The window keeps the list of open message boxes and of every error shown.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QFileDialog, QInputDialog, QLabel, QMessageBox, QWidget

from tracker_app import __version__
from tracker_app.export_actions import FRAME_FORMATS, MESH_FORMATS, session_folder
from tracker_app.record_dialog import RecordDialog
from tracker_app.settings_dialog import SettingsDialog

if TYPE_CHECKING:
    from tracker_app.main_window import MainWindow

VIDEO_PATTERNS = "*.mp4 *.avi *.mov *.mkv *.webm *.m4v *.mpg *.mpeg *.wmv"
IMAGE_PATTERNS = "*.jpg *.jpeg *.png *.bmp *.tif *.tiff *.webp"
OPEN_FILTER = (f"Videos and images ({VIDEO_PATTERNS} {IMAGE_PATTERNS});;Videos ({VIDEO_PATTERNS});;"
               f"Images ({IMAGE_PATTERNS});;All files (*)")
APP_TITLE = "3D Face Tracker"
ABOUT_ICON_PX = 64
DIALOG_MIN_WIDTH = 320  # px: input dialogs and message boxes stay readable (titles not cut off)
DIALOG_TITLE_SPARE_PX = 120  # room beside a dialog's title for the window manager's buttons


def message_box(parent: QWidget, open_boxes: list[QMessageBox], icon: QMessageBox.Icon, title: str,
                text: str) -> QMessageBox:
    """A window-modal message that returns at once (frames keep flowing behind it); kept in
    ``open_boxes`` while it is open."""
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, parent)
    # Long one-line messages wrap at a readable width instead of following a small window.
    box.setStyleSheet(f"QLabel {{ min-width: {DIALOG_MIN_WIDTH}px; }}")
    box.setWindowModality(Qt.WindowModality.WindowModal)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.finished.connect(lambda _r, b=box: open_boxes.remove(b) if b in open_boxes else None)
    open_boxes.append(box)
    box.open()
    return box


def about_box(parent: QWidget) -> QMessageBox:
    """The Help ▸ About dialog (not shown yet): icon, version, licence note."""
    box = QMessageBox(parent)
    box.setWindowTitle(f"About {APP_TITLE}")
    box.setIconPixmap(parent.windowIcon().pixmap(ABOUT_ICON_PX, ABOUT_ICON_PX))
    box.setText(f"<b>{APP_TITLE}</b> {__version__}")
    box.setInformativeText("Realtime 3D dense face tracking (3DDFA_V2 family).\n\n"
                           "The 3D face model is derived from the Basel Face Model 2009 "
                           "and is for academic use only.")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    return box


def int_dialog(parent: QWidget, title: str, label: str, value: int, lo: int, hi: int,
               on_ok: Callable[[int], None]) -> QInputDialog:
    """A non-blocking integer dialog, wide enough for its title."""
    dialog = QInputDialog(parent)
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
    label_widget = dialog.findChild(QLabel)
    if label_widget is not None:
        label_widget.setMinimumWidth(max(DIALOG_MIN_WIDTH, title_px))
    dialog.open()
    return dialog


class WindowDialogs:
    """What each menu command asks before it acts on ``window``."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window

    def _start_folder(self) -> str:
        recent = self.window.store.recent_files()
        return str(Path(recent[0]).parent) if recent else ""

    def _suggest(self, kind: str, suffix: str) -> str:
        model = self.window.model
        stem = Path(model.source.spec).stem if model.source is not None and model.is_file else "camera"
        index = model.frame.result.index if model.frame is not None else 0
        return str(Path.cwd() / f"{stem}_{kind}{index:05d}{suffix}")

    def choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open video or image", self._start_folder(), OPEN_FILTER)
        if path:
            self.window.open_source(path)

    def choose_image_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self.window, "Open image folder", self._start_folder())
        if path:
            self.window.open_source(path)

    def choose_camera_number(self) -> QInputDialog:
        return int_dialog(self.window, "Open Camera by Number", "Camera number (OpenCV index):", 0, 0, 63,
                          self.window.open_source)

    def choose_frame_number(self) -> QInputDialog | None:
        model = self.window.model
        source, frame = model.source, model.frame
        if source is None or source.is_live:
            self.window.status.showMessage("Go to frame: open a video file first", 5000)
            return None
        last = max(0, (source.frame_count or 1) - 1)
        current = frame.result.index if frame is not None else 0
        about = "" if source.frame_count_exact else "about "
        return int_dialog(self.window, "Go to frame", f"Frame number (0-based, {about}0–{last}):", current, 0, last,
                          self.window.go_to_frame)

    def choose_frame_path(self) -> None:
        if self.window.model.frame is None:
            self.window.show_error("Nothing to save", "Open a video or a camera first.")
            return
        path, _ = QFileDialog.getSaveFileName(self.window, "Save frame", self._suggest("frame", ".png"),
                                              FRAME_FORMATS)
        if path:
            try:
                self.window.save_frame(Path(path))
            except (OSError, ValueError) as e:
                self.window.show_error("Cannot save the frame", str(e))

    def choose_mesh_path(self) -> None:
        frame = self.window.model.frame
        if frame is None or not frame.n_faces:
            self.window.show_error("No mesh to export", "There is no face in the current frame.")
            return
        path, _ = QFileDialog.getSaveFileName(self.window, "Export mesh", self._suggest("mesh", ".obj"), MESH_FORMATS)
        if path:
            self.window.export_mesh(Path(path))

    def toggle_recording(self, on: bool) -> None:
        """Record Session: stop, or ask for the folder and the exports and start."""
        window, model = self.window, self.window.model
        if on == (model.recording is not None):
            return
        if not on:
            window.stop_recording()
            return
        source = model.source
        if source is None:
            window.show_error("Nothing to record", "Open a video or a camera first.")
            return
        dialog = RecordDialog(Path.cwd(), model.overlay.show_mesh, not source.is_live, window)
        if dialog.exec() != RecordDialog.DialogCode.Accepted:
            return
        try:
            request = dialog.request()
        except ValueError as e:
            window.show_error("Cannot record", str(e))
            return
        window.start_recording(session_folder(request.parent), request.exports, request.from_start)

    def edit_settings(self) -> None:
        window = self.window
        dialog = SettingsDialog(window.settings, window.default_settings, window)
        if dialog.exec() == SettingsDialog.DialogCode.Accepted:
            window.apply_settings(dialog.values())
