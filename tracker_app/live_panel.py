"""The Live panel: camera and mode picker, mirror, Set neutral, VMC streaming and the weights as bars.

Widgets only: the panel edits a ``LiveOptions`` and says what the user asked for
through signals; the main window does it (through the capture controller) and shows the
app's state back with ``show_state``, which the window's handlers take as "nothing to do"
when it is already the state (no blocked signals).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

from PyQt6.QtCore import QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QPainter, QPaintEvent
from PyQt6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                             QPushButton, QScrollArea, QSizePolicy, QSpinBox, QVBoxLayout, QWidget)

from engine.vmc import VmcTarget
from tracker_app.cameras import CameraMode
from tracker_app.settings import LiveOptions

BAR_HEIGHT = 14  # px per weight row
BAR_LABEL_WIDTH = 120  # px for the blendshape name
BAR_COLOUR = QColor(90, 170, 240)
BAR_BACKGROUND = QColor(60, 62, 68)


class WeightBars(QWidget):
    """Named weights 0..1 drawn as horizontal bars (repainted when ``set_weights`` changes them)."""

    def __init__(self, names: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.names = names
        self.values: dict[str, float] = {}
        self.setMinimumHeight(BAR_HEIGHT * len(names))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_weights(self, weights: Mapping[str, float] | None) -> None:
        values = dict(weights or {})
        if values != self.values:
            self.values = values
            self.update()

    def paintEvent(self, event: QPaintEvent | None) -> None:
        painter = QPainter(self)
        width = max(1, self.width() - BAR_LABEL_WIDTH - 4)
        for row, name in enumerate(self.names):
            y = row * BAR_HEIGHT
            painter.setPen(self.palette().windowText().color())
            painter.drawText(QRectF(0, y, BAR_LABEL_WIDTH, BAR_HEIGHT),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, name)
            painter.fillRect(QRectF(BAR_LABEL_WIDTH, y + 2, width, BAR_HEIGHT - 4), BAR_BACKGROUND)
            value = self.values.get(name, 0.0)
            if value > 0:
                painter.fillRect(QRectF(BAR_LABEL_WIDTH, y + 2, width * min(1.0, value), BAR_HEIGHT - 4),
                                 BAR_COLOUR)
        painter.end()


class LivePanel(QWidget):
    """Edits ``options``; emits what to do. ``set_*`` methods show the app's state without signals."""

    options_changed = pyqtSignal(LiveOptions)
    camera_requested = pyqtSignal(int, object)  # camera index, CameraMode or None (the camera's default)
    streaming_toggled = pyqtSignal(bool)
    neutral_requested = pyqtSignal()
    mirror_toggled = pyqtSignal(bool)

    def __init__(self, options: LiveOptions, cameras: list[tuple[int, str]],
                 modes: Callable[[int], list[CameraMode]], blendshapes: tuple[str, ...],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.options = options
        self._modes = modes

        self.camera_box = QComboBox()
        for index, name in cameras:
            self.camera_box.addItem(f"Camera {index}: {name}", index)
        if not cameras:
            self.camera_box.addItem("No camera found", None)
        self.mode_box = QComboBox()
        self.mode_box.setToolTip("Resolution and frame rate, as the camera reports them")
        self.open_camera = QPushButton("Open camera")
        self.camera_box.currentIndexChanged.connect(self._fill_modes)
        self.open_camera.clicked.connect(self._request_camera)
        camera = QGroupBox("Camera")
        form = QFormLayout(camera)
        form.addRow("Device", self.camera_box)
        form.addRow("Mode", self.mode_box)
        form.addRow(self.open_camera)

        self.mirror = QCheckBox("Mirror (cameras on, files off by default)")
        self.mirror.toggled.connect(self.mirror_toggled)
        self.neutral = QPushButton("Set neutral (N)")
        self.neutral.setToolTip("This face and pose are the rest pose: recentres the head and the expressions")
        self.neutral.clicked.connect(self.neutral_requested)
        view = QGroupBox("View")
        layout = QVBoxLayout(view)
        layout.addWidget(self.mirror)
        layout.addWidget(self.neutral)

        self.stream = QCheckBox("Stream over VMC")
        self.host = QLineEdit(options.stream_host)
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(options.stream_port)
        self.follow = QSpinBox()
        self.follow.setRange(0, 100_000)
        self.follow.setSpecialValueText("first person")
        self.follow.setValue(options.stream_follow)
        self.follow.setToolTip("Person ID of the face to stream (shown by the view's readout)")
        self.stream_status = QLabel("Not streaming")
        self.stream.toggled.connect(self.streaming_toggled)
        self.host.editingFinished.connect(self._edited)
        self.port.valueChanged.connect(self._edited)
        self.follow.valueChanged.connect(self._edited)
        streaming = QGroupBox("Streaming (VMC protocol)")
        form = QFormLayout(streaming)
        form.addRow(self.stream)
        target = QHBoxLayout()
        target.addWidget(self.host, 3)
        target.addWidget(self.port, 1)
        form.addRow("Receiver", target)
        form.addRow("Face", self.follow)
        form.addRow(self.stream_status)

        self.bars = WeightBars(blendshapes)
        scroll = QScrollArea()
        scroll.setWidget(self.bars)
        scroll.setWidgetResizable(True)
        weights = QGroupBox("Expression weights")
        QVBoxLayout(weights).addWidget(scroll)

        layout = QVBoxLayout(self)
        for w in (camera, view, streaming):
            layout.addWidget(w)
        layout.addWidget(weights, 1)
        self._fill_modes()

    def show_state(self, mirror: bool, streaming: VmcTarget | None) -> None:
        """The app's mirror and streaming state."""
        self.mirror.setChecked(mirror)
        self.stream.setChecked(streaming is not None)
        self.stream_status.setText(f"Streaming to {streaming}" if streaming is not None else "Not streaming")
        for w in (self.host, self.port):
            w.setEnabled(streaming is None)

    def _edited(self) -> None:
        options = dataclasses.replace(self.options, stream_host=self.host.text().strip() or self.options.stream_host,
                                      stream_port=self.port.value(), stream_follow=self.follow.value())
        if options != self.options:
            self.options = options
            self.options_changed.emit(options)

    def _fill_modes(self) -> None:
        self.mode_box.clear()
        self.mode_box.addItem("Camera default", None)
        index = self.camera_box.currentData()
        self.open_camera.setEnabled(index is not None)
        if index is None:
            return
        o = self.options
        for mode in self._modes(index):
            self.mode_box.addItem(str(mode), mode)
            if (mode.width, mode.height, mode.fps) == (o.camera_width, o.camera_height, o.camera_fps):
                self.mode_box.setCurrentIndex(self.mode_box.count() - 1)

    def _request_camera(self) -> None:
        index = self.camera_box.currentData()
        if index is not None:
            self.camera_requested.emit(int(index), self.mode_box.currentData())
