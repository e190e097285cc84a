"""The eyes' own filter: fast on closing, steady while open, no delay.

    from engine.eye_filter import EyeFilter
    eye_filter = EyeFilter(config.eyes)
    result = eye_filter.apply(result)        # every frame, in order, after the smoother

The head smoothers (look-ahead, One Euro) filter the 62 parameters; the eyes ride
along unfiltered (``Face.eyes`` is carried by ``dataclasses.replace``) and get this
filter instead, per segment (``TrackedFace.segment``) like the smoothers. A blink lasts
3-8 frames at 25-30 fps: a window of +-3 frames would halve it and One Euro at rest
would lag it by several frames. So, per eye and frame, with ``d`` the step from the
last output:

* openness falling by more than ``closing_step``: the new value at once (a blink
  starts on the frame it is seen);
* any other step: ``y += a d`` with ``a`` from ``steady_alpha`` for small steps (the
  measure's noise while the eye is open) up to 1 at ``full_step`` (the eye opening
  again after a blink);
* gaze the same way on its own scale (``gaze_full_step_deg``), held while the eye is
  closed (a closed eye has no pupil);
* an eye not measured (``EyeState.valid`` false, NaN values) passes as it is, and the
  filter starts again from the next measured frame.

Zero frames of delay: a blink reaches the exports on the frame it closes.
"""
from __future__ import annotations

import dataclasses

from engine.config import EyesConfig
from engine.frames import FrameResult, TrackedFace
from engine.results import Eyes, EyeState


class EyeFilter:
    """Per-segment eye filter (see the module notes). Not thread-safe; one per pipeline."""

    def __init__(self, config: EyesConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._last: dict[int, Eyes] = {}

    def apply(self, result: FrameResult) -> FrameResult:
        """``result`` with each face's eyes filtered (faces without eyes pass unchanged)."""
        if not any(tf.face.eyes is not None for tf in result.faces):
            return result
        faces: list[TrackedFace] = []
        seen = set()
        for tf in result.faces:
            eyes = tf.face.eyes
            if eyes is None:
                faces.append(tf)
                continue
            seen.add(tf.segment)
            prev = self._last.get(tf.segment)
            out = eyes if prev is None else Eyes(self._eye(prev.right, eyes.right), self._eye(prev.left, eyes.left))
            self._last[tf.segment] = out
            faces.append(dataclasses.replace(tf, face=dataclasses.replace(tf.face, eyes=out)))
        for gone in set(self._last) - seen:  # segments never come back
            del self._last[gone]
        return dataclasses.replace(result, faces=faces)

    def _eye(self, prev: EyeState, new: EyeState) -> EyeState:
        cfg = self.config
        if not new.valid or not prev.valid:  # nothing to filter against: as measured (NaN when not measured)
            return new
        d = new.openness - prev.openness
        if d <= -cfg.closing_step:
            openness = new.openness
        else:
            openness = prev.openness + _alpha(d, cfg.steady_alpha, cfg.full_step) * d
        if openness < cfg.closed_below:  # no pupil to follow: hold the gaze
            yaw, pitch = prev.yaw, prev.pitch
        else:
            yaw = prev.yaw + _alpha(new.yaw - prev.yaw, cfg.steady_alpha, cfg.gaze_full_step_deg) * (new.yaw - prev.yaw)
            pitch = prev.pitch + _alpha(new.pitch - prev.pitch, cfg.steady_alpha,
                                        cfg.gaze_full_step_deg) * (new.pitch - prev.pitch)
        return EyeState(openness=openness, yaw=yaw, pitch=pitch, pupil=new.pupil, valid=True)


def _alpha(step: float, steady: float, full: float) -> float:
    """steady_alpha for a small step, rising linearly to 1 at ``full``."""
    return steady + (1.0 - steady) * min(abs(step) / full, 1.0)
