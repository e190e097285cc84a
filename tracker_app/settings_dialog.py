"""The settings dialog: edits an AppSettings, knows nothing about where it is stored."""
from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout,
                             QGroupBox, QSlider, QSpinBox, QVBoxLayout, QWidget)

from engine.cpus import usable_cpu_count
from engine.smoothing import SMOOTHERS
from tracker_app.settings import SMOOTHER_LABELS, AppSettings, OverlayOptions

MAX_WINDOW = 15  # look-ahead frames on either side offered in the dialog


def _spin(lo: int, hi: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    return box


class SettingsDialog(QDialog):
    """``values()`` gives the edited settings; "Restore Defaults" loads ``defaults`` into the form."""

    def __init__(self, current: AppSettings, defaults: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._defaults = defaults

        self._live = current.live  # edited in the Live panel, carried through
        self.smoother = QComboBox()
        self.file_smoother = QComboBox()
        for key in SMOOTHERS:
            self.smoother.addItem(SMOOTHER_LABELS[key], key)
            self.file_smoother.addItem(SMOOTHER_LABELS[key], key)
        self.n_pre = _spin(0, MAX_WINDOW)
        self.n_next = _spin(0, MAX_WINDOW)
        self.n_pre.setToolTip("Past frames averaged into each output frame")
        self.n_next.setToolTip("Future frames averaged in: the display is this many frames late")
        self.smoother.currentIndexChanged.connect(self._update_enabled)
        self.file_smoother.currentIndexChanged.connect(self._update_enabled)
        tracking = QGroupBox("Smoothing")
        form = QFormLayout(tracking)
        form.addRow("Smoother for cameras", self.smoother)
        form.addRow("Smoother for files", self.file_smoother)
        form.addRow("Look-ahead: past frames", self.n_pre)
        form.addRow("Look-ahead: future frames", self.n_next)

        self.threads = _spin(1, usable_cpu_count())
        self.min_score = QDoubleSpinBox()
        self.min_score.setRange(0.05, 0.99)
        self.min_score.setSingleStep(0.05)
        self.min_score.setDecimals(2)
        self.max_faces = _spin(0, 32)
        self.max_faces.setSpecialValueText("no limit")
        self.detect_every = _spin(0, 300)
        self.detect_every.setSpecialValueText("only when needed")
        self.detect_every.setSuffix(" frames")
        engine = QGroupBox("Engine and detection")
        form = QFormLayout(engine)
        form.addRow("Threads", self.threads)
        form.addRow("Detector score threshold", self.min_score)
        form.addRow("Faces tracked at most", self.max_faces)
        form.addRow("Look for new faces every", self.detect_every)

        self.show_mesh = QCheckBox("Dense mesh")
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.wireframe = QCheckBox("Wireframe")
        self.show_landmarks = QCheckBox("68 landmarks")
        self.show_axes = QCheckBox("Pose axes")
        self.show_eyes = QCheckBox("Eyes (lids and gaze)")
        overlays = QGroupBox("Overlays")
        form = QFormLayout(overlays)
        form.addRow(self.show_mesh)
        form.addRow("Mesh opacity", self.opacity)
        form.addRow(self.wireframe)
        form.addRow(self.show_landmarks)
        form.addRow(self.show_axes)
        form.addRow(self.show_eyes)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
                                   | QDialogButtonBox.StandardButton.RestoreDefaults)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        restore = buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        assert restore is not None  # asked for above
        restore.clicked.connect(lambda: self.load(self._defaults))
        layout = QVBoxLayout(self)
        for w in (tracking, engine, overlays, buttons):
            layout.addWidget(w)
        self.load(current)

    def load(self, s: AppSettings) -> None:
        self.smoother.setCurrentIndex(SMOOTHERS.index(s.smoother))
        self.file_smoother.setCurrentIndex(SMOOTHERS.index(s.file_smoother))
        self.n_pre.setValue(s.n_pre)
        self.n_next.setValue(s.n_next)
        self.threads.setValue(s.threads)
        self.min_score.setValue(s.min_score)
        self.max_faces.setValue(s.max_faces)
        self.detect_every.setValue(s.detect_every)
        o = s.overlay
        self.show_mesh.setChecked(o.show_mesh)
        self.opacity.setValue(round(o.mesh_opacity * 100))
        self.wireframe.setChecked(o.wireframe)
        self.show_landmarks.setChecked(o.show_landmarks)
        self.show_axes.setChecked(o.show_axes)
        self.show_eyes.setChecked(o.show_eyes)
        self._update_enabled()

    def values(self) -> AppSettings:
        overlay = OverlayOptions(show_mesh=self.show_mesh.isChecked(), mesh_opacity=self.opacity.value() / 100,
                                 wireframe=self.wireframe.isChecked(),
                                 show_landmarks=self.show_landmarks.isChecked(),
                                 show_axes=self.show_axes.isChecked(), show_eyes=self.show_eyes.isChecked())
        return AppSettings(smoother=self.smoother.currentData(), n_pre=self.n_pre.value(),
                           n_next=self.n_next.value(), threads=self.threads.value(),
                           min_score=round(self.min_score.value(), 2), max_faces=self.max_faces.value(),
                           detect_every=self.detect_every.value(), overlay=overlay,
                           file_smoother=self.file_smoother.currentData(), live=self._live)

    def _update_enabled(self) -> None:
        lookahead = "lookahead" in (self.smoother.currentData(), self.file_smoother.currentData())
        self.n_pre.setEnabled(lookahead)
        self.n_next.setEnabled(lookahead)
