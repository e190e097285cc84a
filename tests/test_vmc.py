"""VMC sender against a real python-osc receiver on loopback: bundles, addresses, types, axes, mirroring."""
from __future__ import annotations

import time

import numpy as np
import pytest

from engine.expressions import BLENDSHAPE_NAMES, EYE_BLENDSHAPE_NAMES, Calibration
from engine.pipeline import TrackingPipeline
from engine.video_source import open_source
from engine.vmc import VmcSender, VmcTarget, VmcTargetError
from tests.support.vmc_receiver import VmcReceiver

BLEND_VAL = "/VMC/Ext/Blend/Val"


@pytest.fixture(scope="module")
def obama_results(live_analyzer, media_dir) -> list:
    pipeline = TrackingPipeline(live_analyzer, smoother="lookahead")
    out = []
    with open_source(media_dir / "obama.mp4") as source:
        for packet in source:
            out += pipeline.process(packet)
    return out + pipeline.flush()


@pytest.fixture
def receiver():
    r = VmcReceiver()
    yield r
    r.close()


def expected_messages() -> list[str]:
    # Head, then the LeftEye and RightEye bones (the pipeline measures the eyes)
    return ["/VMC/Ext/Bone/Pos"] * 3 + [BLEND_VAL] * len(BLENDSHAPE_NAMES) + [
        "/VMC/Ext/Blend/Apply", "/VMC/Ext/OK", "/VMC/Ext/T"]


def check_bundle_format(bundle) -> None:
    """Addresses in order, argument types as the protocol specifies, a unit quaternion."""
    assert bundle.addresses() == expected_messages()
    for address, tags, _args in bundle.messages:
        expected = {"/VMC/Ext/Bone/Pos": "sfffffff", BLEND_VAL: "sf", "/VMC/Ext/Blend/Apply": "",
                    "/VMC/Ext/OK": "i", "/VMC/Ext/T": "f"}[address]
        assert tags == expected, (address, tags)
    bones = [args[0] for address, _, args in bundle.messages if address == "/VMC/Ext/Bone/Pos"]
    assert bones == ["Head", "LeftEye", "RightEye"]
    assert list(bundle.weights()) == list(BLENDSHAPE_NAMES)
    assert all(0.0 <= v <= 1.0 for v in bundle.weights().values())
    _, quat = bundle.head()
    assert abs(np.linalg.norm(quat) - 1.0) < 1e-5
    assert bundle.first("/VMC/Ext/OK")[1] == (1,)


def stream(results, expressions, port: int, **options) -> VmcSender:
    sender = VmcSender(expressions, VmcTarget("127.0.0.1", port), **options)
    for result in results:
        sender.write(result)
        time.sleep(0.002)  # a frame rate: the pipe holds ~30 frames, a burst of 55 could drop some
    sender.close()
    return sender


def test_target_parsing() -> None:
    assert VmcTarget.parse(None) == VmcTarget("127.0.0.1", 39539)
    assert VmcTarget.parse("192.168.1.5:39540") == VmcTarget("192.168.1.5", 39540)
    assert VmcTarget.parse(":40000") == VmcTarget("127.0.0.1", 40000)
    assert VmcTarget.parse("otherhost") == VmcTarget("otherhost", 39539)
    for bad in ("host:port", "host:0", "host:70000"):
        with pytest.raises(VmcTargetError):
            VmcTarget.parse(bad)


def test_one_bundle_per_frame_with_the_tables_yaw(obama_results, expressions, receiver) -> None:
    sender = stream(obama_results, expressions, receiver.port)
    receiver.wait_for(len(obama_results))
    assert sender.bundles_sent == len(obama_results) == 55 and sender.error is None
    assert len(receiver.bundles) == 55 and not receiver.other
    times = []
    for bundle, result in zip(receiver.bundles, obama_results):
        check_bundle_format(bundle)
        # No neutral set: the rotation is the absolute head pose; the documented conversion
        # gives the yaw of the table (faces.csv writes pose.yaw) back.
        assert abs(bundle.table_yaw() - result.faces[0].face.pose.yaw) < 0.5
        times.append(bundle.first("/VMC/Ext/T")[1][0])
    assert times == pytest.approx([r.timestamp for r in obama_results], abs=1e-5)


def test_mirror_swaps_sides_and_turns(obama_results, expressions, receiver) -> None:
    results = obama_results[:5]
    stream(results, expressions, receiver.port)
    stream(results, expressions, receiver.port, mirror=True)
    receiver.wait_for(10)
    normal, mirror = receiver.bundles[:5], receiver.bundles[5:]
    for n, m, result in zip(normal, mirror, results):
        wn, wm = n.weights(), m.weights()
        assert wm["mouthSmileLeft"] == wn["mouthSmileRight"] and wm["Blink_L"] == wn["Blink_R"]
        assert wm["jawOpen"] == wn["jawOpen"]
        (pn, qn), (pm, qm) = n.head(), m.head()
        # Reflecting the x axis: q = (x, y, z, w) -> (x, -y, -z, w), position x -> -x.
        assert np.allclose(qm, qn * [1, -1, -1, 1], atol=1e-6)
        assert np.allclose(pm, pn * [-1, 1, 1], atol=1e-6)
        assert abs(m.table_yaw(mirror=True) - result.faces[0].face.pose.yaw) < 0.5
    yaw = results[0].faces[0].face.pose.yaw
    assert abs(yaw) > 10  # obama looks to one side: the swap of sign is visible
    assert np.sign(normal[0].head()[1][1]) == np.sign(yaw) == -np.sign(mirror[0].head()[1][1])


def test_neutral_recentres_the_stream(obama_results, expressions, receiver) -> None:
    neutral = expressions.neutral_from(obama_results[0].faces[0].face)
    stream(obama_results[:2], expressions, receiver.port, calibration=neutral)
    receiver.wait_for(2)
    position, quat = receiver.bundles[0].head()
    assert np.allclose(quat, [0, 0, 0, 1], atol=1e-6) and np.allclose(position, 0, atol=1e-9)
    # The expression weights; the eyes have their own neutral (EyeEstimator.set_neutral).
    weights = receiver.bundles[0].weights()
    assert max(v for k, v in weights.items() if k not in EYE_BLENDSHAPE_NAMES) < 1e-6


def test_a_missing_receiver_costs_nothing_and_says_nothing(obama_results, expressions, capfd) -> None:
    closed = VmcReceiver()
    port = closed.port
    closed.close()  # nobody listens on this port any more
    sender = stream(obama_results, expressions, port)
    assert sender.bundles_sent == len(obama_results) and sender.error is None
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_writing_never_waits_for_the_network(obama_results, expressions, receiver) -> None:
    sender = VmcSender(expressions, VmcTarget("127.0.0.1", receiver.port))
    for _ in range(10):
        for result in obama_results:
            sender.write(result)
    sender.close()
    assert sender.frames_dropped > 0  # faster than it sends: frames were dropped, not waited for
    assert sender.bundles_sent + sender.frames_dropped == 10 * len(obama_results)
    assert sender.bundles_sent >= 20  # the pipe's worth got through


def test_follows_the_chosen_track(obama_results, expressions, receiver) -> None:
    stream(obama_results[:3], expressions, receiver.port, follow=7)  # no such track: nothing sent
    stream(obama_results[:3], expressions, receiver.port, follow=obama_results[0].faces[0].person_id)
    receiver.wait_for(3)
    receiver.settle()  # everything both senders sent (they are closed) has been read
    assert len(receiver.bundles) == 3
    assert Calibration() == Calibration.from_dict(Calibration().to_dict())


def test_track_cli_streams_one_bundle_per_frame(media_dir, tmp_path, receiver) -> None:
    """`tracker-app track obama.mp4 --vmc 127.0.0.1:PORT`: one bundle per frame, the table's yaw."""
    import csv
    import os
    import subprocess
    import sys

    from engine.config import REPO_ROOT

    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "tracker_app.cli", "--threads", "2", "track",
                        str(media_dir / "obama.mp4"), "--out", str(out), "--no-progress",
                        "--vmc", f"127.0.0.1:{receiver.port}"],
                       cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    assert p.returncode == 0, p.stderr
    assert f"streamed 55 VMC bundles to 127.0.0.1:{receiver.port}" in p.stdout
    with open(out / "faces.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 55
    receiver.wait_for(55)
    receiver.settle()  # everything the command sent (it has ended) has been read
    assert len(receiver.bundles) == 55 and not receiver.other
    for bundle, row in zip(receiver.bundles, rows):
        check_bundle_format(bundle)
        assert abs(bundle.table_yaw() - float(row["yaw"])) < 0.5
        assert bundle.first("/VMC/Ext/T")[1][0] == pytest.approx(float(row["time"]), abs=1e-3)


def test_track_cli_rejects_a_bad_target(media_dir, tmp_path) -> None:
    import os
    import subprocess
    import sys

    from engine.config import REPO_ROOT

    p = subprocess.run([sys.executable, "-m", "tracker_app.cli", "track", str(media_dir / "obama.mp4"),
                        "--out", str(tmp_path / "out"), "--vmc", "localhost:notaport"],
                       cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    assert p.returncode != 0 and p.stderr.strip().splitlines()[-1].startswith("tracker-app: error: --vmc: VMC target")
    assert "Traceback" not in p.stderr
