"""Record Session dialog: the folder and the exports of `tracker-app track`, as one ExportOptions."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                             QHBoxLayout, QLineEdit, QPushButton, QWidget)

from engine.animation_export import ANIMATION_FORMATS
from engine.frame_selection import FrameSelection, FrameSelectionError
from engine.session import ExportOptions


@dataclass(frozen=True)
class RecordRequest:
    parent: Path  # the session folder is made inside (export_actions.session_folder)
    exports: ExportOptions
    from_start: bool  # files: restart at frame 0, so the recording holds the whole video


class RecordDialog(QDialog):
    """Folder, table, overlay video (with the mesh as shown), meshes, animation."""

    def __init__(self, parent_dir: Path, show_mesh: bool, is_file: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Record session")
        form = QFormLayout(self)
        self.folder = QLineEdit(str(parent_dir))
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
        path = QFileDialog.getExistingDirectory(self, "Record session into folder", self.folder.text())
        if path:
            self.folder.setText(path)

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
        return RecordRequest(Path(self.folder.text()), exports, self.from_start.isChecked())
