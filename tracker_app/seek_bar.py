"""The seek bar: a click on the track jumps there, a drag previews frames and lands exactly on release.

Qt's slider moves by its page step when the track is clicked (10 frames of a
440-frame clip); a media seek bar is expected to jump to the point clicked. While
the handle is dragged, ``preview`` fires for the value under the handle at most once
per ``preview_ms`` (each seek decodes and tracks a frame, so one per mouse move would
queue up behind each other); ``seek`` fires once for the exact value, on a click,
a key press or the release of a drag. A value set to follow playback (``show_frame``)
or clamped by a shorter range is no seek.

``SeekControls`` owns the bar and the frame counter beside it and keeps both in step
with the ``ViewerModel``: range and enabled state from the source, position and
counter from the frame shown.
"""
from __future__ import annotations

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QMouseEvent
from PyQt6.QtWidgets import QSlider, QStyle, QStyleOptionSlider, QWidget

from tracker_app.display_frame import DisplayFrame
from tracker_app.display_pacing import SteadyLabel
from tracker_app.viewer_model import SourceInfo, ViewerModel, frame_counter_text

BAR_MIN_WIDTH = 120  # px
LABEL_MIN_WIDTH = 80  # px


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
        self._shown = 0  # the frame playback shows: a value equal to it is no seek
        self.valueChanged.connect(self._on_value)
        self.sliderMoved.connect(self._on_drag)
        self.sliderReleased.connect(self._on_release)

    def show_frame(self, index: int) -> None:
        """Follow playback (no seek); a drag in progress keeps its handle."""
        self._shown = index
        if not self.isSliderDown():
            self.setValue(index)

    def set_last(self, last: int) -> None:
        """The range 0..last; a value clamped to it is no seek."""
        self._shown = min(self._shown, last)
        self.setRange(0, last)

    def _style(self) -> QStyle:
        style = self.style()
        assert style is not None  # a widget always has a style once the application exists
        return style

    def value_at(self, x: float) -> int:
        """The value whose handle centre is at widget x (the track's own mapping, style included)."""
        option = QStyleOptionSlider()
        self.initStyleOption(option)
        style = self._style()
        groove = style.subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                      QStyle.SubControl.SC_SliderGroove, self)
        handle = style.subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                      QStyle.SubControl.SC_SliderHandle, self)
        span = groove.width() - handle.width()
        return QStyle.sliderValueFromPosition(self.minimum(), self.maximum(),
                                              round(x - groove.x() - handle.width() / 2), max(1, span),
                                              option.upsideDown)

    def mousePressEvent(self, event: QMouseEvent | None) -> None:
        if event is not None and event.button() == Qt.MouseButton.LeftButton and self.isEnabled():
            option = QStyleOptionSlider()
            self.initStyleOption(option)
            handle = self._style().subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                                 QStyle.SubControl.SC_SliderHandle, self)
            if not handle.contains(event.position().toPoint()):
                self.setValue(self.value_at(event.position().x()))  # jumps (and seeks) at once
            # The handle is now under the pointer: Qt's own handling starts a drag from here.
        super().mousePressEvent(event)

    def _on_value(self, value: int) -> None:
        if not self.isSliderDown() and value != self._shown:
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


class SeekControls:
    """The seek bar and the frame counter of the toolbar, following the model."""

    def __init__(self, model: ViewerModel, preview_ms: int) -> None:
        self.model = model
        self.bar = SeekBar(preview_ms)
        self.bar.setMinimumWidth(BAR_MIN_WIDTH)
        self.bar.setToolTip("Seek (files): click to jump, drag to preview")
        self.bar.dragged.connect(self._show_dragged)
        self.label = SteadyLabel("")
        self.label.setMinimumWidth(LABEL_MIN_WIDTH)
        model.source_changed.connect(self._on_source)
        self._on_source(None)

    def _on_source(self, source: SourceInfo | None) -> None:
        is_file = source is not None and not source.is_live
        self.bar.setEnabled(is_file)
        count = source.frame_count if source is not None and is_file and source.frame_count else 0
        # While the count is the header's claim, a seek past the real end lands on the last
        # frame (the worker clamps it); the range shrinks as soon as the true count is known.
        self.bar.set_last(max(0, count - 1))
        exact = source is not None and is_file and source.frame_count_exact
        self.label.setToolTip(
            "" if not is_file else "Frame number (0-based, as in faces.csv) / frames in the file" if exact
            else "~: the file header's frame count, not checked yet (counting…)")
        if source is None:
            self.label.setText("")
        elif is_file and self.model.frame is not None:
            self.show_frame(self.model.frame)

    def show_frame(self, frame: DisplayFrame) -> None:
        index, source = frame.result.index, self.model.source
        if source is None or source.is_live:
            self.label.setText(f"frame {index}")
            return
        if source.frame_count and index >= source.frame_count:  # the header was shorter than the file
            self.model.update_frame_count(index + 1, exact=False)
            source = self.model.source
            assert source is not None
        self.label.setText(frame_counter_text(index, source.frame_count, source.frame_count_exact))
        if self.bar.isSliderDown():  # the counter follows the handle while dragging
            self._show_dragged(self.bar.value())
        self.bar.show_frame(index)

    def _show_dragged(self, index: int) -> None:
        source = self.model.source
        if source is not None and not source.is_live:
            self.label.setText(frame_counter_text(index, source.frame_count, source.frame_count_exact))
