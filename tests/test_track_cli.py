"""`tracker-app track` end to end, including runs killed or stopped half-way."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from engine.config import REPO_ROOT
from engine.table import table_columns
from tests.support.video_fixtures import count_video_frames


def cli(*args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "tracker_app.cli", "--threads", "2", *args], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == table_columns()
    assert all(len(r) == len(rows[0]) for r in rows[1:])
    return rows[1:]


# What makes --help slow: checked by what it imports, not by a wall clock (CI's speed is unknown).
HEAVY_MODULES = ("cv2", "onnxruntime", "numpy", "PyQt6", "yaml", "tqdm", "engine.analyzer")


def test_help_lists_track_quickly() -> None:
    out = subprocess.run([sys.executable, "-m", "tracker_app.cli", "track", "--help"], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "--out" in out and "--smoother" in out and "--meshes" in out
    probe = ("import sys\nfrom tracker_app import cli\ntry:\n    cli.main(['track', '--help'])\n"
             "except SystemExit:\n    pass\nprint(' '.join(m for m in sys.argv[1:] if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe, *HEAVY_MODULES], cwd=REPO_ROOT, capture_output=True,
                            text=True, check=True).stdout.splitlines()[-1]
    assert loaded == "", f"--help imports {loaded}"  # no model, OpenCV or NumPy import for --help


def test_track_obama_with_every_export(tmp_path, media_dir, weights_dir) -> None:
    out = tmp_path / "out"
    p = cli("track", str(media_dir / "obama.mp4"), "--out", str(out), "--video", "--frames", "5",
            "--meshes", "7", "--mesh-format", "ply", "--animation", "glb,pc2")
    stdout, stderr = p.communicate(timeout=240)
    assert p.returncode == 0, stderr
    rows = read_rows(out / "faces.csv")
    assert [int(r[0]) for r in rows] == list(range(55))  # exactly one row per frame
    assert {r[2] for r in rows} == {"1"}
    run = json.loads((out / "run.json").read_text())
    assert run["complete"] and run["summary"]["frames"] == 55 and run["summary"]["detector_calls"] <= 3
    # The header's 158 is kept as a claim; the count is what was read.
    assert (run["source"]["frame_count"], run["source"]["frames_announced"], run["source"]["ended_early"]) == \
        (55, 158, True)
    assert set(run["summary"]["ms_per_frame_median"]) >= {"decode", "detect", "regress", "smooth", "export"}
    assert count_video_frames(out / "overlay.avi") == 55
    assert (out / "frames" / "frame_000005.png").is_file()
    assert (out / "meshes" / "frame_000007_id1.ply").is_file()
    assert not (out / "meshes" / "frame_000007_id1.obj").exists()
    names = ["animation/person_1.glb", "animation/person_1.pc2", "animation/person_1_base.obj"]
    assert all((out / n).is_file() for n in names) and set(names) <= set(run["files"])
    assert "55 frames" in stdout and "detector calls 1" in stdout and "ms per frame" in stdout
    assert "1 track(s) of 1 person," in stdout
    assert "158" in stderr  # the wrong header is mentioned, not trusted


def test_unreadable_source_is_one_line(tmp_path, weights_dir) -> None:
    p = cli("track", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o"), "--no-progress")
    _, stderr = p.communicate(timeout=120)
    assert p.returncode == 1
    assert stderr.strip().count("\n") == 0 and "missing.mp4" in stderr


def test_truncated_mp4_is_one_line_without_ffmpeg_noise(tmp_path, media_dir, weights_dir) -> None:
    cut = tmp_path / "cut.mp4"
    data = (media_dir / "obama_pingpong.mp4").read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])  # the index (moov atom) sits at the end: lost
    p = cli("track", str(cut), "--out", str(tmp_path / "o"), "--no-progress")
    _, stderr = p.communicate(timeout=120)
    assert p.returncode == 1
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cut.mp4" in lines[0] and "truncated" in lines[0], stderr


def _start_and_wait_for_rows(tmp_path, media_dir, rows: int) -> tuple[subprocess.Popen, Path]:
    out = tmp_path / "out"
    p = cli("track", str(media_dir / "obama_pingpong.mp4"), "--out", str(out), "--video", "--no-progress",
            "--smoother", "lookahead")
    table = out / "faces.csv"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if table.is_file() and table.read_text().count("\n") > rows:
            return p, out
        if p.poll() is not None:
            break
        time.sleep(0.05)
    p.kill()
    pytest.fail(f"no {rows} rows before the run ended: {p.communicate()[1][-500:]}")


def test_killed_run_leaves_readable_table_and_video(tmp_path, media_dir, weights_dir) -> None:
    p, out = _start_and_wait_for_rows(tmp_path, media_dir, 40)
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=60)
    rows = read_rows(out / "faces.csv")
    assert 40 <= len(rows) < 440
    assert [int(r[0]) for r in rows] == list(range(len(rows)))
    frames = count_video_frames(out / "overlay.avi")
    # playable up to the last frame written (each frame is flushed as one JPEG chunk)
    assert len(rows) - 1 <= frames <= len(rows) + 1
    run = json.loads((out / "run.json").read_text())
    assert run["complete"] is False and run["finished"] is None and run["summary"] is None


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stopped_run_closes_cleanly(tmp_path, media_dir, weights_dir, sig) -> None:
    p, out = _start_and_wait_for_rows(tmp_path, media_dir, 20)
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 130, stderr
    assert "interrupted" in stderr
    rows = read_rows(out / "faces.csv")
    run = json.loads((out / "run.json").read_text())
    # kept, but not complete: the source was not read to its end
    assert run["complete"] is False and run["interrupted"] and run["error"] is None and run["finished"]
    # every frame read was written, including the ones the look-ahead smoother held
    assert len(rows) == run["summary"]["frames"] == run["summary"]["frames_read"]
    assert count_video_frames(out / "overlay.avi") == len(rows)


def _run_with_file_size_limit(limit: int, *args: str) -> subprocess.CompletedProcess:
    """`track` where no file may grow past ``limit`` bytes: writes fail as on a full disk (EFBIG)."""
    import resource

    def limit_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get the error, not the signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, "-m", "tracker_app.cli", "--threads", "2", "track", *args,
                           "--no-progress"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=240,
                          preexec_fn=limit_files)


@pytest.mark.parametrize("video", [False, True])
def test_full_disk_ends_the_run_truthfully(tmp_path, media_dir, weights_dir, video) -> None:
    out = tmp_path / "out"
    args = [str(media_dir / "obama.mp4"), "--out", str(out)] + (["--video"] if video else [])
    p = _run_with_file_size_limit(2_000_000 if video else 60_000, *args)
    assert p.returncode == 1
    first = "overlay.avi" if video else "faces.csv"  # the file that filled up first is named
    errors = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and f"cannot write {out / first}" in errors[0], p.stderr
    assert "[ WARN" not in p.stderr + p.stdout
    run = json.loads((out / "run.json").read_text())
    assert run["complete"] is False and first in run["error"] and run["summary"]["error"] == run["error"]
    rows = read_rows(out / "faces.csv")
    assert 10 < len(rows) < 55 and [int(r[0]) for r in rows] == list(range(len(rows)))
    if video:
        # the look-ahead smoother's held frames reached the table after the video failed
        assert len(rows) == run["summary"]["frames"] and count_video_frames(out / "overlay.avi") < len(rows)


def test_odd_frame_size_and_a_decoder_error_in_an_image_folder(tmp_path, media_dir, weights_dir) -> None:
    import zlib
    import struct

    folder = tmp_path / "frames"
    folder.mkdir()
    image = cv2.resize(cv2.imread(str(media_dir / "emma.jpg")), (641, 479))
    for i in range(8):
        cv2.imwrite(str(folder / f"f{i:03d}.png"), image)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    # f005 declares 60000x60000 pixels: the decoder refuses it
    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 180001)) + chunk(b"IEND", b""))
    (folder / "f005.png").write_bytes(bomb)
    out = tmp_path / "out"
    p = cli("track", str(folder), "--out", str(out), "--video", "--no-progress")
    _, stderr = p.communicate(timeout=240)
    run = json.loads((out / "run.json").read_text())
    if p.returncode == 0:  # the image reader skips such files (a warning): all other frames are there
        assert run["complete"] and run["summary"]["frames"] == 7
    else:
        assert p.returncode == 1 and run["complete"] is False and run["error"]
        assert len([line for line in stderr.splitlines() if line.strip()]) == 1, stderr
        # the frames before the error, including the ones the smoother held, were exported
        frames = sorted({int(r[0]) for r in read_rows(out / "faces.csv")})
        assert frames == list(range(5)) and run["summary"]["frames"] == 5
    cap = cv2.VideoCapture(str(out / "overlay.avi"))
    ok, frame = cap.read()
    assert ok and frame.shape == (479, 641, 3)  # the odd size is kept


def test_frame_lists_are_lazy_and_all_is_accepted(tmp_path, media_dir, weights_dir) -> None:
    out = tmp_path / "out"
    p = cli("track", str(media_dir / "obama.mp4"), "--out", str(out), "--no-progress", "--max-frames", "3",
            "--frames", "0-99999999999", "--meshes", "all", "--mesh-format", "ply")
    _, stderr = p.communicate(timeout=240)
    assert p.returncode == 0, stderr
    assert len(list((out / "frames").glob("*.png"))) == 3 and len(list((out / "meshes").glob("*.ply"))) == 3
    # a second run into the same folder is refused in one line, then allowed with --overwrite
    p = cli("track", str(media_dir / "obama.mp4"), "--out", str(out), "--no-progress", "--max-frames", "2")
    _, stderr = p.communicate(timeout=240)
    assert p.returncode == 1 and stderr.count("\n") == 1 and "--overwrite" in stderr
    p = cli("track", str(media_dir / "obama.mp4"), "--out", str(out), "--no-progress", "--max-frames", "2",
            "--overwrite")
    _, stderr = p.communicate(timeout=240)
    assert p.returncode == 0, stderr
    assert not (out / "frames").exists() and len(read_rows(out / "faces.csv")) == 2
