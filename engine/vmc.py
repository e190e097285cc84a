"""VMC protocol sender: head pose and named expressions of one tracked face, over OSC/UDP.

    from engine.vmc import VmcSender, VmcTarget
    sender = VmcSender(ExpressionModel(model, config.expressions), VmcTarget.parse("127.0.0.1:39539"))
    for result in results:            # a ResultSink: run_session(..., sinks=[sender]) does this
        sender.write(result)
    sender.close()

Per frame that holds the followed face, one OSC bundle (protocol.vmc.info, Marionette
spec), in this order:

* ``/VMC/Ext/Bone/Pos "Head" p.x p.y p.z q.x q.y q.z q.w``: the head relative to the
  neutral pose, in Unity's left-handed avatar frame (x the avatar's right, y up, z the
  avatar's forward); position in metres;
* when the eyes were measured (engine.eyes), ``/VMC/Ext/Bone/Pos "LeftEye"`` and
  ``"RightEye"`` with position 0 and the eyeball's rotation relative to the head:
  ``Ry(yaw) Rx(pitch)`` in Unity's axes (a positive y rotation turns forward to the
  avatar's right, a positive x rotation turns it down);
* ``/VMC/Ext/Blend/Val name value`` for every weight of ``engine.expressions.BLENDSHAPES``,
  then ``/VMC/Ext/Blend/Apply``;
* ``/VMC/Ext/OK 1`` (a model's data is being sent) and ``/VMC/Ext/T time`` (the frame's
  own timestamp, seconds).

Axes. The engine's camera frame is right-handed: x right in the picture, y up, z towards
the camera. Facing the camera, the user's right is the picture's left, so the user's
body frame in Unity's axes is ``S = diag(-1, 1, 1)`` applied to camera coordinates: the
reflection that also turns right- into left-handed. Hence, with ``R`` the head rotation
relative to neutral in camera axes and ``p`` its position:

* normal (the avatar moves the same side as the user): ``R_unity = S R S``, ``p_unity = S p``;
* mirrored (the avatar moves like the user's mirror image): ``R_unity = R``,
  ``p_unity = p``, and every Left/Right blendshape swapped.

The quaternion is the usual one of ``R_unity`` (Unity's ``Quaternion`` has the same algebra).
To read the table's yaw back: ``R = S R_unity S`` (normal), then
``yaw = degrees(asin(R[2, 0]))`` as in ``engine.results.HeadPose``; equivalently the
Unity rotation about +y of a pure turn equals the table's yaw (normal mode) or its
negative (mirrored).

Sending never blocks the frame loop: ``write`` only puts the followed face into a
non-blocking pipe (a frame is dropped when the pipe is full); a separate process
computes the weights, encodes the bundle and sends it (see ``VmcSender``). UDP needs no
receiver: with none listening the datagrams are simply lost; a send error is reported
once (``error``), never per frame.
"""
from __future__ import annotations

import math
import os
import pickle
import socket
import struct
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from engine.errors import UsageError
from engine.expressions import Calibration, ExpressionModel, HeadMotion, mirrored
from engine.frames import FrameResult, TrackedFace
from engine.head_space import matrix_to_quaternion
from engine.results import Eyes, eyes_from_array

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 39539
CLOSE_TIMEOUT_S = 10.0  # for the sending process to drain its pipe and report
_FRAME_HEADER = struct.Struct("<idiii")  # index, timestamp, person id, frame width, height
POLL_S = 0.002  # the sending process looks for frames this often (at most this much latency)
HEAD_BONE = "Head"
EYE_BONES = ("LeftEye", "RightEye")  # the avatar's: the subject's in normal mode, swapped when mirrored
_EYES_FLOATS = 1 + 2 * 5  # a "measured" flag, then (right, left) x (openness, yaw, pitch, pupil x, y)
MIRROR_AXES = np.diag([-1.0, 1.0, 1.0])  # camera frame <-> Unity avatar frame (see the module notes)


class VmcTargetError(UsageError):
    """A VMC target that is not HOST:PORT, or a host that does not resolve (one-line message)."""


@dataclass(frozen=True)
class VmcTarget:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT

    @classmethod
    def parse(cls, text: str | None, default: "VmcTarget | None" = None) -> "VmcTarget":
        """``HOST:PORT``, ``HOST``, ``:PORT`` or empty (the default target)."""
        base = default or cls()
        text = (text or "").strip()
        if not text:
            return base
        host, sep, port_text = text.rpartition(":")
        if not sep:
            host, port_text = text, ""
        if sep and not port_text:  # "HOST:" or ":" promise a port and give none
            raise VmcTargetError(f"VMC target '{text}': no port after ':' (HOST:PORT, HOST or :PORT)")
        host = host.strip("[]") or base.host
        try:
            port = int(port_text) if port_text else base.port
        except ValueError:
            raise VmcTargetError(f"VMC target '{text}': the port must be a number (HOST:PORT)") from None
        if not 0 < port < 65536:
            raise VmcTargetError(f"VMC target '{text}': port {port} is out of range 1-65535")
        return cls(host, port)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class LiveFrame:
    """What one bundle carries, before encoding (also what the app shows)."""

    index: int
    time: float
    person_id: int  # who is streamed (TrackedFace.person_id)
    motion: HeadMotion
    weights: dict[str, float]  # the subject's left/right (not mirrored)
    eyes: Eyes | None = None  # the subject's eyes (engine.eyes), when measured


def choose_face(result: FrameResult, follow: int | None) -> TrackedFace | None:
    """The face to stream: person ``follow``, or the first person seen (lowest id) when None.
    People keep their IDs across cuts and gaps, so a chosen actor stays chosen."""
    if follow is not None:
        return next((tf for tf in result.faces if tf.person_id == follow), None)
    return min(result.faces, key=lambda tf: tf.person_id, default=None)


def live_frame(model: ExpressionModel, result: FrameResult, calibration: Calibration,
               follow: int | None = None) -> LiveFrame | None:
    """Head motion and weights of the followed face in ``result`` (None: not in this frame)."""
    tracked = choose_face(result, follow)
    if tracked is None:
        return None
    h, w = result.image.shape[:2]
    face = tracked.face
    return LiveFrame(index=result.index, time=float(result.timestamp), person_id=tracked.person_id,
                     motion=model.head_motion(face, (w, h), calibration),
                     weights=model.weights(face, calibration), eyes=face.eyes)


def unity_head(motion: HeadMotion, mirror: bool) -> tuple[np.ndarray, np.ndarray]:
    """(position (3,), quaternion (x, y, z, w)) of the head in Unity's avatar frame."""
    rotation = np.asarray(motion.rotation, np.float64)
    position = np.asarray(motion.position, np.float64)
    if not mirror:
        rotation = MIRROR_AXES @ rotation @ MIRROR_AXES
        position = MIRROR_AXES @ position
    return position, matrix_to_quaternion(rotation)


def unity_eyes(eyes: Eyes, mirror: bool) -> tuple[np.ndarray, np.ndarray]:
    """Quaternions (x, y, z, w) of the avatar's (LeftEye, RightEye) bones relative to the head.

    Unity's axes: ``Ry(yaw)`` turns forward (z) to the avatar's right (x), ``Rx(pitch)``
    turns it down. The eye's yaw > 0 is towards the subject's right, which is the avatar's
    right in normal mode; mirrored, each eye drives the other side with its yaw negated."""
    left, right = (eyes.right, eyes.left) if mirror else (eyes.left, eyes.right)
    sign = -1.0 if mirror else 1.0
    out = []
    for eye in (left, right):
        y, p = math.radians(sign * eye.yaw), math.radians(eye.pitch)
        cy, sy, cp, sp = math.cos(y), math.sin(y), math.cos(p), math.sin(p)
        ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
        rx = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
        out.append(matrix_to_quaternion(ry @ rx))
    return out[0], out[1]


def encode_bundle(frame: LiveFrame, mirror: bool) -> bytes:
    """The OSC bundle of one frame (see the module notes for its messages)."""
    return _ENCODER.encode(frame, mirror)


class _BundleEncoder:
    """OSC bundles from templates that python-osc builds once.

    Every message of a bundle has a fixed address, type tags and leading string; only
    its trailing float32 values change from frame to frame. python-osc's builders
    re-parse each datagram they make (about 1.4 ms for a bundle of 30 messages here),
    so the per-frame work is packing floats behind the prebuilt prefixes.
    """

    def __init__(self) -> None:
        self.header = OscBundleBuilder(IMMEDIATELY).build().dgram  # "#bundle\0" + time tag
        self.bone = _prefix(_message("/VMC/Ext/Bone/Pos", HEAD_BONE, *[0.0] * 7), 7)
        self.eye_bones = [_prefix(_message("/VMC/Ext/Bone/Pos", name, *[0.0] * 7), 7) for name in EYE_BONES]
        self.blend: dict[str, bytes] = {}
        self.tail = b"".join(_element(_message(address, *args)) for address, args in (
            ("/VMC/Ext/Blend/Apply", ()), ("/VMC/Ext/OK", (1,))))
        self.time = _prefix(_message("/VMC/Ext/T", 0.0), 1)

    def blend_prefix(self, name: str) -> bytes:
        prefix = self.blend.get(name)
        if prefix is None:
            prefix = self.blend[name] = _prefix(_message("/VMC/Ext/Blend/Val", name, 0.0), 1)
        return prefix

    def encode(self, frame: LiveFrame, mirror: bool) -> bytes:
        position, quat = unity_head(frame.motion, mirror)
        weights = mirrored(frame.weights) if mirror else frame.weights
        parts = [self.header, self.bone, struct.pack(">7f", *position, *quat)]
        if frame.eyes is not None:
            for prefix, eye_quat in zip(self.eye_bones, unity_eyes(frame.eyes, mirror)):
                parts += [prefix, struct.pack(">7f", 0.0, 0.0, 0.0, *eye_quat)]
        for name, value in weights.items():
            parts += [self.blend_prefix(name), struct.pack(">f", value)]
        parts += [self.tail, self.time, struct.pack(">f", frame.time)]
        return b"".join(parts)


def _message(address: str, *args: str | float | int) -> bytes:
    builder = OscMessageBuilder(address=address)
    for arg in args:
        kind = (OscMessageBuilder.ARG_TYPE_STRING if isinstance(arg, str) else
                OscMessageBuilder.ARG_TYPE_INT if isinstance(arg, int) else OscMessageBuilder.ARG_TYPE_FLOAT)
        builder.add_arg(arg, kind)
    return bytes(builder.build().dgram)


def _element(message: bytes) -> bytes:
    """A bundle element: the message's size (int32, big-endian), then the message."""
    return struct.pack(">i", len(message)) + message


def _prefix(message: bytes, trailing_floats: int) -> bytes:
    """The element bytes of ``message`` without its last ``trailing_floats`` float32 values."""
    return _element(message)[: -4 * trailing_floats]


_ENCODER = _BundleEncoder()


@dataclass(frozen=True)
class _SenderState:
    """What the sending process needs beside the frame; sent with every frame (small)."""

    mirror: bool
    follow: int | None
    calibration: Calibration


@dataclass(frozen=True)
class _Report:
    """What the sending process tells at the end."""

    bundles_sent: int
    error: str | None
    cpu_seconds: float  # of the sending loop, start-up excluded


class VmcSender:
    """A ResultSink streaming the followed face to a VMC receiver from a separate process.

    ``write(result)``, the one entry point (the command line's sessions and the app's capture
    thread alike), copies the followed face (about 1.3 KB) into a non-blocking pipe and returns; the
    process computes the weights and head motion, encodes the bundle and sends it. A
    process rather than a thread because that work is a few hundred small NumPy and
    Python steps per frame, which in a thread would hold the GIL the frame loop needs
    (measured: the loop's wall time grew several-fold on a busy 2-core machine). The
    pipe holds about 30 frames; when the process falls that far behind, new frames are
    dropped (``frames_dropped``) instead of waiting. ``mirror``, ``follow`` and
    ``calibration`` may be changed at any time (they travel with the next frame).
    ``close()`` sends what is queued and fills ``bundles_sent``, ``error`` (the first
    send error, reported once, never per frame) and ``sender_cpu_seconds``.
    """

    def __init__(self, model: ExpressionModel, target: VmcTarget, *, mirror: bool = False,
                 follow: int | None = None, calibration: Calibration | None = None) -> None:
        import multiprocessing

        try:
            info = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_DGRAM)
        except (socket.gaierror, UnicodeError) as e:
            raise VmcTargetError(f"VMC target {target}: cannot resolve host ({e})") from None
        family, _, _, _, address = info[0]
        self.target = target
        self.mirror = bool(mirror)
        self.follow = follow
        self.calibration = calibration or Calibration()
        self.bundles_sent = 0
        self.frames_dropped = 0  # frames not queued because the process was too far behind
        self.error: str | None = None
        self.sender_cpu_seconds = 0.0
        # spawn, not fork: the parent has threads (onnxruntime, Qt) that fork would not copy.
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe(duplex=True)
        self._process = context.Process(target=_serve, args=(child, model, family, address, str(target)),
                                        name=f"VmcSender({target})", daemon=True)
        self._process.start()
        child.close()
        os.set_blocking(self._conn.fileno(), False)
        self._closed = False
        self._state_sent: _SenderState | None = None

    def write(self, result: FrameResult) -> None:
        tracked = choose_face(result, self.follow)
        if tracked is None:
            return
        h, w = result.image.shape[:2]
        face = tracked.face
        eyes = np.zeros(_EYES_FLOATS, np.float32)
        if face.eyes is not None:
            eyes[0], eyes[1:] = 1.0, face.eyes.as_array().reshape(-1)
        # Raw bytes, not a pickled Face: a quarter of the cost in the frame loop.
        self._put(b"F" + _FRAME_HEADER.pack(result.index, float(result.timestamp), tracked.person_id, w, h)
                  + np.asarray(face.params, np.float32).tobytes()
                  + np.asarray(face.landmarks, np.float32).tobytes()
                  + np.asarray(face.pose.rotation, np.float32).tobytes() + eyes.tobytes())

    def set_calibration(self, calibration: Calibration) -> None:
        self.calibration = calibration

    def _put(self, data: bytes) -> None:
        if self._closed:
            return
        state = _SenderState(self.mirror, self.follow, self.calibration)
        if state != self._state_sent:  # settings travel once, before the next frame
            if not self._send(b"S" + pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)):
                self.frames_dropped += 1
                return
            self._state_sent = state
        if not self._send(data):
            self.frames_dropped += 1

    def _send(self, data: bytes) -> bool:
        try:
            # Under PIPE_BUF (4 KB) a pipe write is atomic: all of it, or EAGAIN when full.
            self._conn.send_bytes(data)
            return True
        except BlockingIOError:
            return False
        except (BrokenPipeError, ConnectionResetError):
            self._closed = True
            self.error = self.error or f"VMC sender for {self.target} stopped"
            return False

    def close(self) -> None:
        """Send what is queued, stop the process and take its report."""
        if self._closed and not self._process.is_alive():
            return
        self._closed = True
        os.set_blocking(self._conn.fileno(), True)
        try:
            self._conn.send_bytes(b"E")
            if self._conn.poll(CLOSE_TIMEOUT_S):
                report = pickle.loads(self._conn.recv_bytes())
                self.bundles_sent, self.sender_cpu_seconds = report.bundles_sent, report.cpu_seconds
                self.error = self.error or report.error
        except (OSError, EOFError):
            self.error = self.error or f"VMC sender for {self.target} stopped"
        self._process.join(CLOSE_TIMEOUT_S)
        if self._process.is_alive():
            self._process.kill()
        self._conn.close()

    def __enter__(self) -> "VmcSender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _serve(conn: Connection, model: ExpressionModel, family: int, address: tuple[object, ...],
           target: str) -> None:
    """The sending process: frames from the pipe -> bundles to the UDP target, until None."""
    cpu0 = time.process_time()  # start-up (imports) left out of the report
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sent, error = 0, None
    state = _SenderState(False, None, Calibration())
    while True:
        # Poll rather than block in recv: a writer that wakes a blocked reader pays for the
        # wake-up (measured ~0.2 ms of the frame loop's CPU per frame on a busy machine).
        if not conn.poll():
            time.sleep(POLL_S)
            continue
        try:
            message = conn.recv_bytes()
        except EOFError:  # the parent is gone
            return
        kind, body = message[:1], message[1:]
        if kind == b"E":
            break
        if kind == b"S":
            state = pickle.loads(body)
            continue
        # The one frame message ("F"): the followed face's parameters, landmarks, rotation and eyes.
        index, stamp, person_id, w, h = _FRAME_HEADER.unpack_from(body)
        arrays = np.frombuffer(body, np.float32, offset=_FRAME_HEADER.size)
        params, landmarks = arrays[:62], arrays[62:62 + 204].reshape(68, 3)
        rotation, eye_values = arrays[266:275].reshape(3, 3), arrays[275:275 + _EYES_FLOATS]
        eyes = eyes_from_array(eye_values[1:].reshape(2, 5)) if eye_values[0] else None
        frame = LiveFrame(index=index, time=stamp, person_id=person_id,
                          motion=model.head_motion_of(rotation, landmarks, (w, h), state.calibration),
                          weights=model.weights_of(params, state.calibration, eyes), eyes=eyes)
        try:
            sock.sendto(encode_bundle(frame, state.mirror), address)
            sent += 1
        except OSError as e:  # e.g. no route; nobody listening costs nothing with UDP
            error = error or f"VMC sending to {target} failed: {e.strerror or e}"
    sock.close()
    conn.send_bytes(pickle.dumps(_Report(sent, error, time.process_time() - cpu0)))
    conn.close()
