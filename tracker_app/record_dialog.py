"""Record Session dialog: the folder and the exports of `tracker-app track`, as one ExportOptions."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                             QHBoxLayout, QLineEdit, QMessageBox, QPushButton, QWidget)

from engine.animation_export import ANIMATION_FORMATS
from engine.frame_selection import FrameSelection, FrameSelectionError
from engine.session import ExportOptions


@dataclass(frozen=True)
class RecordRequest:
    parent: Path  # the session folder is made inside (export_actions.session_folder)
    exports: ExportOptions
    from_start: bool  # files: restart at frame 0, so the recording holds the whole video


def make_folder(path: Path) -> Path:
    """``path`` as a folder, created (with its parents) when it does not exist yet; OSError if it cannot be."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(f"cannot create the folder {path}: {e.strerror or e}") from None
    return path


class FolderDialog(QFileDialog):
    """Pick a folder, or type the name of a new one: it is created (Qt's own dialog would say
    "Directory not found")."""

    def __init__(self, parent: QWidget | None, title: str, start: str) -> None:
        super().__init__(parent, title, start)
        self.setFileMode(QFileDialog.FileMode.Directory)
        self.setOption(QFileDialog.Option.ShowDirsOnly, True)
        # The platform's dialog is a separate process: it would not call accept() below.
        self.setOption(QFileDialog.Option.DontUseNativeDialog, True)

    def accept(self) -> None:
        typed = self.selectedFiles()
        if typed and not Path(typed[0]).exists():
            try:
                make_folder(Path(typed[0]))
            except OSError as e:
                QMessageBox.warning(self, "Cannot create the folder", str(e))
                return
        super().accept()


class RecordDialog(QDialog):
    """Folder, table, overlay video (with the mesh as shown), meshes, animation."""

    def __init__(self, parent_dir: Path, show_mesh: bool, is_file: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Record session")
        form = QFormLayout(self)
        self.folder = QLineEdit(str(parent_dir))
        self.folder.setToolTip("The session folder is made inside; a folder that does not exist yet is created")
        self.setMinimumWidth(460)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder)
        row.addWidget(browse)
        form.addRow("Into folder", row)
        self.from_start = QCheckBox("Start from the first frame")
        self.from_start.setChecked(is_file)
        self.from_start.setEnabled(is_file)
        form.addRow("", self.from_start)
        self.table = QCheckBox("faces.csv + faces.npz")
        self.table.setChecked(True)
        form.addRow("Table", self.table)
        self.video = QCheckBox("overlay.avi")
        self.video.setChecked(True)
        self.video_mesh = QCheckBox("with the shaded mesh")
        self.video_mesh.setChecked(show_mesh)
        row = QHBoxLayout()
        row.addWidget(self.video)
        row.addWidget(self.video_mesh)
        form.addRow("Video", row)
        self.meshes = QLineEdit("")
        self.meshes.setPlaceholderText("none; all, or frames such as 0-100:10")
        form.addRow("Meshes of frames", self.meshes)
        self.mesh_format = QComboBox()
        self.mesh_format.addItems(["obj,ply", "obj", "ply"])
        self.mesh_space = QComboBox()
        self.mesh_space.addItems(["image", "head"])
        self.mesh_texture = QCheckBox("UV texture")
        row = QHBoxLayout()
        for w in (self.mesh_format, self.mesh_space, self.mesh_texture):
            row.addWidget(w)
        form.addRow("Mesh files", row)
        self.animation = {fmt: QCheckBox(fmt) for fmt in ANIMATION_FORMATS}
        row = QHBoxLayout()
        for box in self.animation.values():
            row.addWidget(box)
        form.addRow("Animation per track", row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        self.folder_dialog = FolderDialog(self, "Record session into folder", self.folder.text())
        self.folder_dialog.fileSelected.connect(self.folder.setText)
        self.folder_dialog.open()

    def accept(self) -> None:
        """OK: a typed folder that does not exist yet is created (a bad one keeps the dialog open)."""
        try:
            make_folder(Path(self.folder.text().strip()))
            self.request()
        except (OSError, ValueError) as e:
            QMessageBox.warning(self, "Cannot record", str(e))
            return
        super().accept()

    def request(self) -> RecordRequest:
        """The choices; ValueError (one line) for a bad frame list."""
        text = self.meshes.text().strip()
        try:
            meshes = FrameSelection.parse(text) if text else FrameSelection.none()
        except FrameSelectionError as e:
            raise ValueError(f"meshes: {e}") from None
        exports = ExportOptions(
            table=self.table.isChecked(), video=self.video.isChecked(),
            render=("mesh",) if self.video.isChecked() and self.video_mesh.isChecked() else (),
            meshes=meshes, mesh_formats=tuple(self.mesh_format.currentText().split(",")),
            mesh_space=self.mesh_space.currentText(), mesh_texture=self.mesh_texture.isChecked(),
            animation=tuple(f for f, box in self.animation.items() if box.isChecked()))
        return RecordRequest(Path(self.folder.text().strip()).expanduser(), exports, self.from_start.isChecked())
