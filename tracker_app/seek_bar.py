"""The seek bar: a click on the track jumps there, a drag previews frames and lands exactly on release.

Qt's slider moves by its page step when the track is clicked (10 frames of a
440-frame clip); a media seek bar is expected to jump to the point clicked. While
the handle is dragged, ``preview`` fires for the value under the handle at most once
per ``preview_ms`` (each seek decodes and tracks a frame, so one per mouse move would
queue up behind each other); ``seek`` fires once for the exact value, on a click,
a key press or the release of a drag.
"""
from __future__ import annotations

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QMouseEvent
from PyQt6.QtWidgets import QSlider, QStyle, QStyleOptionSlider, QWidget


class SeekBar(QSlider):
    seek = pyqtSignal(int)  # the exact frame to show (click, keys, release of a drag)
    preview = pyqtSignal(int)  # a frame to show while dragging (debounced)
    dragged = pyqtSignal(int)  # every value under the handle while dragging (for the counter)

    def __init__(self, preview_ms: int, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(max(1, int(preview_ms)))
        self._preview_timer.timeout.connect(self._send_preview)
        self._previewed: int | None = None
        self.valueChanged.connect(self._on_value)
        self.sliderMoved.connect(self._on_drag)
        self.sliderReleased.connect(self._on_release)

    def show_frame(self, index: int) -> None:
        """Follow playback (no seek); a drag in progress keeps its handle."""
        if not self.isSliderDown():
            self.blockSignals(True)
            self.setValue(index)
            self.blockSignals(False)

    def value_at(self, x: float) -> int:
        """The value whose handle centre is at widget x (the track's own mapping, style included)."""
        option = QStyleOptionSlider()
        self.initStyleOption(option)
        style = self.style()
        groove = style.subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                      QStyle.SubControl.SC_SliderGroove, self)
        handle = style.subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                      QStyle.SubControl.SC_SliderHandle, self)
        span = groove.width() - handle.width()
        return QStyle.sliderValueFromPosition(self.minimum(), self.maximum(),
                                              round(x - groove.x() - handle.width() / 2), max(1, span),
                                              option.upsideDown)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.isEnabled():
            option = QStyleOptionSlider()
            self.initStyleOption(option)
            handle = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                                 QStyle.SubControl.SC_SliderHandle, self)
            if not handle.contains(event.position().toPoint()):
                self.setValue(self.value_at(event.position().x()))  # jumps (and seeks) at once
            # The handle is now under the pointer: Qt's own handling starts a drag from here.
        super().mousePressEvent(event)

    def _on_value(self, value: int) -> None:
        if not self.isSliderDown():
            self.seek.emit(value)

    def _on_drag(self, value: int) -> None:
        self.dragged.emit(value)
        if not self._preview_timer.isActive():
            self._preview_timer.start()

    def _send_preview(self) -> None:
        if self.isSliderDown() and self.value() != self._previewed:
            self._previewed = self.value()
            self.preview.emit(self.value())
            self._preview_timer.start()  # the next preview no sooner than one interval later

    def _on_release(self) -> None:
        self._preview_timer.stop()
        self._previewed = None
        self.seek.emit(self.value())
