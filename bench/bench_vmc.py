#!/usr/bin/env python3
"""What VMC streaming adds to the tracking loop, printed as one table.

    python bench/bench_vmc.py [--video PATH] [--threads N] [--repeats R]

The realtime (zero-latency) tracking loop, as a camera runs it, on frames decoded
beforehand (decoding excluded), with an ``engine.vmc.VmcSender`` as its sink sending to
a UDP receiver on loopback (it only drains its socket in a thread), switched on and off
every few frames of the same run so that the shared machine's drift falls on both. Also: what ``write`` itself costs in the
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

CHUNK = 20  # frames between switching streaming on and off
WARM_UP = 5  # first frames (detection, warm-up) left out


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


def run(analyzer, expressions, packets: list[FramePacket], port: int, repeats: int) -> dict[str, dict[str, float]]:
    """Streaming switched on and off every ``CHUNK`` frames of one run, so the machine's
    drift (it is shared) falls on both configurations alike; ``repeats`` runs, the phase
    alternating. Per frame: wall ms and the loop thread's own CPU ms."""
    samples: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": [], "write": []} for k in ("off", "on")}
    sent = 0
    for repeat in range(repeats):
        pipeline = TrackingPipeline(analyzer, smoother="realtime")
        sender = VmcSender(expressions, VmcTarget("127.0.0.1", port))
        for i, packet in enumerate(packets):
            on = (i // CHUNK + repeat) % 2 == 1
            t, c = time.perf_counter(), time.thread_time()
            results = pipeline.process(packet)
            t_write = time.perf_counter()
            if on:
                for result in results:
                    sender.write(result)
            t_end, c_end = time.perf_counter(), time.thread_time()
            if i >= WARM_UP:
                s = samples["on" if on else "off"]
                s["wall"].append((t_end - t) * 1000)
                s["cpu"].append((c_end - c) * 1000)
                s["write"].append((t_end - t_write) * 1000)
        sender.close()
        sent += sender.bundles_sent
    out = {k: {name: statistics.median(v) for name, v in s.items()} | {"mean": statistics.fmean(s["wall"])}
           for k, s in samples.items()}
    out["on"]["sent"] = sent
    return out


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
    cpu0 = time.process_time()
    figures = run(analyzer, expressions, packets, receiver.port, args.repeats)
    cpu_s = time.process_time() - cpu0
    time.sleep(0.3)
    receiver.close()
    encode_ms = sender_thread_cost(expressions, packets, analyzer)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    off, on = figures["off"], figures["on"]
    print(f"{args.video.name}: {len(packets)} frames x {args.repeats} runs, realtime smoother, sparse landmarks, "
          f"decoding excluded; streaming on and off every {CHUNK} frames")
    print()
    print("| configuration | median wall ms/frame | mean wall ms/frame | median loop-thread CPU ms/frame |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| tracking loop, no streaming | {off['wall']:.3f} | {off['mean']:.3f} | {off['cpu']:.3f} |")
    print(f"| tracking loop + VMC streaming | {on['wall']:.3f} | {on['mean']:.3f} | {on['cpu']:.3f} |")
    print(f"| added by streaming | {on['wall'] - off['wall']:+.3f} | {on['mean'] - off['mean']:+.3f} "
          f"| {on['cpu'] - off['cpu']:+.3f} |")
    print()
    print(f"VmcSender.write in the loop: median {on['write'] * 1000:.1f} us per frame; "
          f"{int(on['sent'])} bundles sent, receiver got {receiver.received}")
    print(f"sender thread, per bundle (weights, head motion, OSC encoding): {encode_ms:.3f} ms, beside the loop")
    print(f"process CPU {cpu_s:.1f} s in all; peak RSS {rss_mb:.0f} MB (the decoded clip)")


if __name__ == "__main__":
    main()
