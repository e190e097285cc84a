#!/usr/bin/env python3
"""What VMC streaming adds to the tracking loop, printed as one table.

    python bench/bench_vmc.py [--video PATH] [--threads N] [--repeats R]

The realtime (zero-latency) tracking loop, as a camera runs it, on frames decoded
beforehand (decoding excluded), with an ``engine.vmc.VmcSender`` as its sink sending to
a UDP receiver on loopback (another process, counting datagrams), switched on and off
every few frames of the same run so that the shared machine's drift falls on both.
Also: what ``write`` itself costs in the loop, and what the sending process spends per
bundle (weights, encoding, sending), which runs beside the loop. CPU seconds and peak
RSS beside wall time.
No assertion: a report (the README quotes it).
"""
from __future__ import annotations

import argparse
import multiprocessing
import resource
import socket
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.analyzer import FaceAnalyzer  # noqa: E402
from engine.config import DEFAULT_DATA_DIR  # noqa: E402
from engine.expressions import ExpressionModel  # noqa: E402
from engine.frames import FramePacket  # noqa: E402
from engine.pipeline import TrackingPipeline  # noqa: E402
from engine.video_source import open_source  # noqa: E402
from engine.vmc import VmcSender, VmcTarget  # noqa: E402

CHUNK = 20  # frames between switching streaming on and off
WARM_UP = 5  # first frames (detection, warm-up) left out


STOP = b"stop"  # datagram that ends the receiver


def _drain(conn) -> None:
    """The receiving process: count datagrams on a loopback port until STOP."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    conn.send(sock.getsockname()[1])
    count = 0
    while sock.recv(65536) != STOP:
        count += 1
    conn.send(count)


class DrainingReceiver:
    """A UDP receiver on loopback in its own process (so it takes no GIL from the loop)."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_drain, args=(child,), daemon=True)
        self._process.start()
        self.port = self._conn.recv()
        self.received = 0

    def close(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(STOP, ("127.0.0.1", self.port))
        self.received = self._conn.recv()
        self._process.join()


def run(analyzer, expressions, packets: list[FramePacket], port: int, repeats: int) -> dict[str, dict[str, float]]:
    """Streaming switched on and off every ``CHUNK`` frames of one run, so the machine's
    drift (it is shared) falls on both configurations alike; ``repeats`` runs, the phase
    alternating. Per frame: wall ms and the loop thread's own CPU ms."""
    samples: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": [], "write": []} for k in ("off", "on")}
    sent, sender_cpu = 0, 0.0
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
        sender_cpu += sender.sender_cpu_seconds
    out = {k: {name: statistics.median(v) for name, v in s.items()} | {"mean": statistics.fmean(s["wall"])}
           for k, s in samples.items()}
    out["on"]["sent"] = sent
    out["on"]["sender_ms"] = sender_cpu * 1000 / max(1, sent)
    return out


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
    print(f"sending process CPU per bundle (weights, head motion, OSC encoding, sendto): "
          f"{on['sender_ms']:.3f} ms, beside the loop")
    print(f"process CPU {cpu_s:.1f} s in all; peak RSS {rss_mb:.0f} MB (the decoded clip)")


if __name__ == "__main__":
    main()
