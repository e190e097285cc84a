"""A per-person signature from the 40 identity coefficients of the 3DMM.

The regressor gives 40 identity (shape) coefficients with every face, free. Whitened
by the regressor's own output statistics (``FaceAnalyzer.whitened_coefficients``),
their root-mean-square difference is a distance between people:

    sig = identity_signature(analyzer.whitened_coefficients(face.params))   # (40,)
    d = signature_distance(sig_a, sig_b)                                     # 0 = identical

Measured on the shared media (docs/tracking.md, tests/test_identity.py): one
person across the frames of obama.mp4 is 0.09 (median) to 0.18 (max) from the
track's mean, its moving average at most 0.16; 2,080 pairs of different people are
at least 0.06 apart (median 0.30, 5 % under 0.15); different photos of one person
(pairs.csv) 0.22 median. So the signature is good at "the same face a few seconds
later" and only fair at "the same person in another photo": the tracker uses it
together with position and time (``engine.tracker``).

``TrackSignature`` keeps what a track knows about its person: the mean signature of
all its frames (the person) and a fast moving average of the latest frames (what the
crop shows now); the two parting says the track has drifted onto someone else.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.face_model import N_EXPRESSION, N_SHAPE


def identity_signature(whitened_coefficients: np.ndarray) -> np.ndarray:
    """(40,) float64: the identity part of the 50 whitened coefficients (identity first)."""
    z = np.asarray(whitened_coefficients, np.float64).reshape(-1)
    if z.size != N_SHAPE + N_EXPRESSION:
        raise ValueError(f"expected {N_SHAPE + N_EXPRESSION} whitened coefficients, got {z.size}")
    return z[:N_SHAPE].copy()


def signature_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Root-mean-square difference of two signatures (whitened units)."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return float(np.sqrt(np.mean(d * d)))


@dataclass
class TrackSignature:
    """Running identity of one track: mean of every frame, and a recent moving average."""

    recent_weight: float  # weight of the newest frame in the recent average (0..1]
    total: np.ndarray = field(default_factory=lambda: np.zeros(N_SHAPE))
    frames: int = 0
    recent: np.ndarray = field(default_factory=lambda: np.zeros(N_SHAPE))

    def add(self, signature: np.ndarray) -> None:
        """Account for one more frame of the same person."""
        s = np.asarray(signature, np.float64)
        self.recent = s.copy() if self.frames == 0 else self.recent + self.recent_weight * (s - self.recent)
        self.total = self.total + s
        self.frames += 1

    @property
    def mean(self) -> np.ndarray:
        return self.total / max(1, self.frames)

    def drift(self, signature: np.ndarray) -> float:
        """How far the recent average, with ``signature`` as its newest frame, is from the mean."""
        s = np.asarray(signature, np.float64)
        recent = s if self.frames == 0 else self.recent + self.recent_weight * (s - self.recent)
        return signature_distance(recent, self.mean)
