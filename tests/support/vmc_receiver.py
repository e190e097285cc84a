"""A real VMC receiver for the tests: a UDP socket on loopback, every datagram parsed by python-osc."""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage

from engine.vmc import MIRROR_AXES


@dataclass
class ReceivedBundle:
    messages: list[tuple[str, str, tuple]]  # (address, OSC type tags, arguments)

    def addresses(self) -> list[str]:
        return [a for a, _, _ in self.messages]

    def first(self, address: str) -> tuple[str, tuple]:
        return next((tags, args) for a, tags, args in self.messages if a == address)

    def weights(self) -> dict[str, float]:
        return {args[0]: args[1] for a, _, args in self.messages if a == "/VMC/Ext/Blend/Val"}

    def head(self) -> tuple[np.ndarray, np.ndarray]:
        _, args = self.first("/VMC/Ext/Bone/Pos")
        return np.array(args[1:4]), np.array(args[4:8])

    def table_yaw(self, mirror: bool = False) -> float:
        """The documented conversion back: R = S R_unity S (normal mode), yaw = asin(R[2, 0])."""
        _, q = self.head()
        r = quaternion_to_matrix(q)
        if not mirror:
            r = MIRROR_AXES @ r @ MIRROR_AXES
        return float(np.degrees(np.arcsin(np.clip(r[2, 0], -1, 1))))


def _type_tags(dgram: bytes) -> str:
    start = dgram.index(b",")
    return dgram[start + 1: dgram.index(b"\0", start)].decode()


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


@dataclass
class VmcReceiver:
    """Listens on 127.0.0.1:<free port> in a thread; ``bundles`` in arrival order, ``other`` anything else."""

    sock: socket.socket = field(default_factory=lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    bundles: list[ReceivedBundle] = field(default_factory=list)
    other: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self._parse(data)

    def _parse(self, data: bytes) -> None:
        if not OscBundle.dgram_is_bundle(data):
            self.other.append(data)
            return
        messages = []
        for element in OscBundle(data):
            assert isinstance(element, OscMessage), "nested bundles are not expected"
            messages.append((element.address, _type_tags(element.dgram), tuple(element.params)))
        self.bundles.append(ReceivedBundle(messages))

    def settle(self) -> None:
        """Every datagram already delivered is in ``bundles`` (or ``other``) when this returns:
        the listening thread is stopped, the socket's queue read here, and the thread started
        again. After a sender's ``close()`` (or its process's end) that is all it sent: loopback
        delivers a datagram into this socket's queue before ``sendto`` returns. No sleep, so no
        guess at how long the listening thread may lag on a busy machine."""
        self._stop = True
        self._thread.join()
        self.sock.setblocking(False)
        try:
            while True:
                try:
                    data = self.sock.recv(65536)
                except BlockingIOError:
                    break
                self._parse(data)
        finally:
            self.sock.settimeout(0.1)
            self._stop = False
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.bundles) < count and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()
