"""The live side of the capture worker: the followed face's readout, the neutral face and VMC.

Owns, in the capture thread, the expression model, the neutral calibration and the VMC
sender while streaming: what the followed face of a frame reads (pose relative to
neutral, weights: ``LiveFrame``), Set neutral, and handing each frame to the sender
through its one entry point (``VmcSender.write``). No Qt: the worker turns its answers
into signals.
"""
from __future__ import annotations

import json

from engine.expressions import Calibration, ExpressionModel
from engine.frames import FrameResult
from engine.vmc import LiveFrame, VmcSender, VmcTarget, VmcTargetError, choose_face, live_frame


class LiveStream:
    """``follow`` (a person id, None: the first person seen) and ``mirror`` apply to the readout and the stream."""

    def __init__(self, calibration: Calibration) -> None:
        self.expressions: ExpressionModel | None = None  # once the models are loaded
        self.calibration = calibration
        self.follow: int | None = None
        self.mirror = False
        self._sender: VmcSender | None = None

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

    def set_neutral(self, result: FrameResult | None) -> Calibration | None:
        """The followed face of ``result`` becomes the neutral; None when there is no face."""
        tracked = None if result is None else choose_face(result, self.follow)
        if tracked is None or self.expressions is None:
            return None
        self.calibration = self.expressions.neutral_from(tracked.face, self.calibration)
        if self._sender is not None:
            self._sender.set_calibration(self.calibration)
        return self.calibration


def stored_calibration(text: str) -> Calibration:
    """The Calibration kept in the settings (JSON); a damaged one is dropped (no neutral)."""
    if not text:
        return Calibration()
    try:
        return Calibration.from_dict(json.loads(text))
    except (ValueError, TypeError, AttributeError):
        return Calibration()
