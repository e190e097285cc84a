#!/usr/bin/env python3
"""What VMC streaming adds to the tracking loop, printed as one table.

    python bench/bench_vmc.py [--video PATH] [--threads N] [--repeats R]

The realtime (zero-latency) tracking loop, as a camera runs it, on frames decoded
beforehand (decoding excluded): without streaming, and with an ``engine.vmc.VmcSender``
as its sink, sending to a real UDP receiver on loopback (a python-osc-parsed socket in
another process would add nothing to this one; here the receiver only drains its socket
in a thread, parsing nothing). The two configurations alternate, ``--repeats`` times
each; the table keeps the best median of each. Also: what ``write`` itself costs in the
loop, and what the sender thread spends per bundle (weights, encoding, sending), which
runs beside the loop on the other core. CPU seconds and peak RSS beside wall time.
No assertion: a report (the README quotes it).
"""
from __future__ import annotations

import argparse
import resource
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.analyzer import FaceAnalyzer  # noqa: E402
from engine.config import DEFAULT_DATA_DIR  # noqa: E402
from engine.expressions import Calibration, ExpressionModel  # noqa: E402
from engine.frames import FramePacket  # noqa: E402
from engine.pipeline import TrackingPipeline  # noqa: E402
from engine.video_source import open_source  # noqa: E402
from engine.vmc import VmcSender, VmcTarget, encode_bundle, live_frame  # noqa: E402


class DrainingReceiver:
    """A UDP socket on loopback read by a thread (so the datagrams really go somewhere)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                self.sock.recv(65536)
                self.received += 1
            except socket.timeout:
                continue

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()


def run(analyzer, expressions, packets: list[FramePacket], port: int | None) -> dict[str, float]:
    pipeline = TrackingPipeline(analyzer, smoother="realtime")
    sender = VmcSender(expressions, VmcTarget("127.0.0.1", port)) if port is not None else None
    frame_ms, write_ms = [], []
    cpu0 = time.process_time()
    for packet in packets:
        t = time.perf_counter()
        results = pipeline.process(packet)
        t_write = time.perf_counter()
        if sender is not None:
            for result in results:
                sender.write(result)
        t_end = time.perf_counter()
        frame_ms.append((t_end - t) * 1000)
        write_ms.append((t_end - t_write) * 1000)
    cpu = time.process_time() - cpu0
    sent = 0
    if sender is not None:
        sender.close()
        sent = sender.bundles_sent
    return {"frame_ms": statistics.median(frame_ms[5:]), "mean_ms": statistics.fmean(frame_ms[5:]),
            "write_ms": statistics.median(write_ms[5:]), "cpu_ms": cpu * 1000 / len(packets), "sent": sent}


def sender_thread_cost(expressions, packets, analyzer) -> float:
    """ms per bundle of the sender thread's own work (weights + head motion + encoding)."""
    pipeline = TrackingPipeline(analyzer, smoother="realtime")
    results = [r for p in packets[:100] for r in pipeline.process(p)]
    t = time.perf_counter()
    for result in results:
        frame = live_frame(expressions, result, Calibration())
        if frame is not None:
            encode_bundle(frame, mirror=False)
    return (time.perf_counter() - t) * 1000 / len(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_DATA_DIR / "media" / "obama_pingpong.mp4")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    analyzer = FaceAnalyzer.from_config(threads=args.threads)
    expressions = ExpressionModel(analyzer.face_model, analyzer.config.expressions)
    with open_source(args.video) as source:
        packets = list(source)
    receiver = DrainingReceiver()
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.repeats):
        for name, port in (("off", None), ("on", receiver.port)):
            figures = run(analyzer, expressions, packets, port)
            if name not in best or figures["frame_ms"] < best[name]["frame_ms"]:
                best[name] = figures
    time.sleep(0.3)
    receiver.close()
    encode_ms = sender_thread_cost(expressions, packets, analyzer)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    off, on = best["off"], best["on"]
    print(f"{args.video.name}: {len(packets)} frames, realtime smoother, sparse landmarks, decoding excluded, "
          f"best of {args.repeats}")
    print()
    print("| configuration | median ms/frame | mean ms/frame | CPU ms/frame (all threads) | bundles sent |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| tracking loop, no streaming | {off['frame_ms']:.3f} | {off['mean_ms']:.3f} | {off['cpu_ms']:.3f} | - |")
    print(f"| tracking loop + VMC streaming | {on['frame_ms']:.3f} | {on['mean_ms']:.3f} | {on['cpu_ms']:.3f} "
          f"| {int(on['sent'])} |")
    print(f"| added by streaming | {on['frame_ms'] - off['frame_ms']:+.3f} | {on['mean_ms'] - off['mean_ms']:+.3f} "
          f"| {on['cpu_ms'] - off['cpu_ms']:+.3f} | |")
    print()
    print(f"VmcSender.write in the loop: median {on['write_ms'] * 1000:.1f} us per frame")
    print(f"sender thread, per bundle (weights, head motion, OSC encoding): {encode_ms:.3f} ms, beside the loop")
    print(f"receiver got {receiver.received} datagrams; peak RSS {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
