"""The live side of the capture worker: the followed face's readout, the neutral face and VMC.

Owns, in the capture thread, the expression model, the neutral calibration and the VMC
sender while streaming: what the followed face of a frame reads (pose relative to
neutral, weights: ``LiveFrame``), Set neutral, and handing each frame to the sender
through its one entry point (``VmcSender.write``). No Qt: the worker turns its answers
into signals.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from engine.expressions import Calibration, ExpressionModel
from engine.eyes import EyeEstimator
from engine.frames import FrameResult
from engine.vmc import LiveFrame, VmcSender, VmcTarget, VmcTargetError, choose_face, live_frame
from tracker_app.settings import LiveOptions


@dataclass(frozen=True)
class Neutral:
    """What Set neutral made: the new calibration, and the followed face read against it."""

    calibration: Calibration
    live: LiveFrame | None


class LiveStream:
    """``follow`` (a person id, None: the first person seen) and ``mirror`` apply to the readout and the stream."""

    def __init__(self, calibration: Calibration) -> None:
        self.expressions: ExpressionModel | None = None  # once the models are loaded
        self.calibration = calibration
        self.follow: int | None = None
        self.mirror = False
        self._sender: VmcSender | None = None

    def configure(self, options: LiveOptions, is_live: bool) -> None:
        """Follow and mirror as the Live settings say for this kind of source (camera or file)."""
        self.follow = options.stream_follow or None
        self.mirror = options.mirror_for(is_live)

    def live_of(self, result: FrameResult) -> LiveFrame | None:
        """The followed face of ``result`` as the readout shows it (None: not in the frame)."""
        if self.expressions is None:
            return None
        return live_frame(self.expressions, result, self.calibration, self.follow)

    def send(self, result: FrameResult) -> None:
        """``result`` to the receiver, while streaming."""
        if self._sender is not None:
            self._sender.follow, self._sender.mirror = self.follow, self.mirror
            self._sender.write(result)

    def start(self, target: VmcTarget) -> str | None:
        """Stream to ``target``; the reason in one line when it cannot."""
        self.stop()
        if self.expressions is None:
            return "The face tracker is not loaded."
        try:
            self._sender = VmcSender(self.expressions, target, mirror=self.mirror, follow=self.follow,
                                     calibration=self.calibration)
        except (OSError, VmcTargetError) as e:
            return str(e)
        return None

    def stop(self) -> str | None:
        """Stop streaming; the sender's error, if sending failed meanwhile."""
        sender, self._sender = self._sender, None
        if sender is None:
            return None
        sender.close()
        return sender.error

    @property
    def streaming(self) -> bool:
        return self._sender is not None

    def set_neutral(self, result: FrameResult | None, eyes: EyeEstimator | None) -> Neutral | None:
        """The followed face of ``result`` becomes the neutral; None when there is no face.

        With ``eyes`` (the pipeline's) and the frame's pixels, the eyes' neutral too
        (``engine.eyes``): this frame's eyes are open and look ahead."""
        tracked = None if result is None else choose_face(result, self.follow)
        if tracked is not None and result is not None and result.has_pixels and eyes is not None:
            face = eyes.set_neutral(tracked.track_id, result.image, tracked.face)
            tracked, old = dataclasses.replace(tracked, face=face), tracked
            result = dataclasses.replace(result, faces=[tracked if tf is old else tf for tf in result.faces])
        if tracked is None or result is None or self.expressions is None:
            return None
        self.calibration = self.expressions.neutral_from(tracked.face, self.calibration)
        if self._sender is not None:
            self._sender.set_calibration(self.calibration)
        return Neutral(self.calibration, self.live_of(result))


def stored_calibration(text: str) -> Calibration:
    """The Calibration kept in the settings (JSON); a damaged one is dropped (no neutral)."""
    if not text:
        return Calibration()
    try:
        return Calibration.from_dict(json.loads(text))
    except (ValueError, TypeError, AttributeError):
        return Calibration()
