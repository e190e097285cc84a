"""run.json tells how a run really ended: a disk that fills up, an unreadable image in a
folder, a video cut short, a double Ctrl-C, and the stream's own timestamps in the table.
Each case builds its hostile input, runs `tracker-app track` as a user would and checks
the exit code, one line on stderr with no traceback, the peak memory, and that run.json
agrees with the files."""
from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.avi_writer import MjpegAviWriter
from engine.config import REPO_ROOT
from engine.video_source import VideoFileSource
from tests.support.cli_run import CliResult, run_cli, start_cli, wait_cli
from tests.support.mkv_writer import write_vfr_mkv
from tests.support.video_fixtures import count_video_frames

RSS_LIMIT_MB = 900  # one `track` process: models, one frame in flight, the table's rows


def read_table(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def frames_of(rows: list[dict[str, str]]) -> list[int]:
    return sorted({int(r["frame"]) for r in rows})


def check_clean(result: CliResult, lines: int) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.error_lines) == lines, result.stderr
    assert result.peak_rss_mb < RSS_LIMIT_MB, result.peak_rss_mb


def small_frame(media_dir: Path) -> np.ndarray:
    return cv2.resize(cv2.imread(str(media_dir / "emma.jpg")), (320, 240), interpolation=cv2.INTER_AREA)


# -- a disk that fills up -----------------------------------------------------------------------


def _can_mount_tmpfs() -> bool:
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
                           capture_output=True, check=False) if shutil.which("unshare") else None
    return probe is not None and probe.returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs unprivileged user namespaces (unshare -rm) for a "
                                                   "small tmpfs; tests/test_track_cli.py covers EFBIG instead")
def test_a_disk_that_fills_up_during_the_video_still_gets_the_final_run_json(media_dir, tmp_path,
                                                                            weights_dir) -> None:
    """A real full disk (a 4 MB tmpfs in a private mount namespace), where every file, run.json
    included, meets ENOSPC: before, the first run.json stayed (no error, no summary)."""
    disk, kept = tmp_path / "disk", tmp_path / "kept"
    disk.mkdir()
    kept.mkdir()
    script = (f"mount -t tmpfs -o size=4m tmpfs {disk} && "
              # GNU time reports the tracker's own peak memory (wait4 on a child it forked)
              f"/usr/bin/time -f %M -o {kept / 'rss_kb'} "
              f"{sys.executable} -m tracker_app.cli --threads 2 track {media_dir / 'obama.mp4'} --out {disk / 'out'} "
              f"--video --no-progress > {kept / 'stdout'} 2> {kept / 'stderr'}; echo $? > {kept / 'rc'}; "
              f"cp -a {disk / 'out'} {kept / 'out'}")
    p = subprocess.Popen(["unshare", "-rm", "sh", "-c", script], cwd=REPO_ROOT)
    assert p.wait() == 0
    result = CliResult(int((kept / "rc").read_text()), (kept / "stdout").read_text(), (kept / "stderr").read_text(),
                       int((kept / "rss_kb").read_text().split()[-1]) / 1024)
    out = kept / "out"
    assert result.returncode == 1
    check_clean(result, 1)
    assert "No space left on device" in result.error_lines[0] and "cannot write" in result.error_lines[0]
    run = json.loads((out / "run.json").read_text())
    assert run["finished"] and run["summary"] is not None  # the final version, not the first
    assert run["complete"] is False and "No space left on device" in run["error"]
    assert run["error"] in result.error_lines[0]
    rows = read_table(out / "faces.csv")  # readable: whole rows up to the last complete frame
    assert frames_of(rows) == list(range(len(frames_of(rows)))) and 3 < len(frames_of(rows)) < 55
    assert len(frames_of(rows)) <= run["summary"]["frames"]  # fewer when the table was the file that filled up
    assert not list(out.glob(".*.partial"))


# -- image folders and videos that end otherwise than announced ------------------------------------


def test_an_unreadable_image_in_a_folder_is_skipped_and_recorded(media_dir, tmp_path, weights_dir) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    image = small_frame(media_dir)
    for k in range(5):
        cv2.imwrite(str(folder / f"f{k:03d}.png"), image)
    (folder / "f002.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))  # damaged
    out = tmp_path / "out"
    result = run_cli("track", str(folder), "--out", str(out), "--no-progress", threads=2)
    assert result.returncode == 0  # the folder was read to its end: complete, with the skip recorded
    check_clean(result, 1)
    assert "skipped 1 unreadable image(s)" in result.error_lines[0] and "note:" in result.error_lines[0]
    run = json.loads((out / "run.json").read_text())
    assert run["complete"] is True and run["summary"]["frames"] == 4
    skipped = run["source"]["skipped_inputs"]
    assert [s["file"] for s in skipped] == ["f002.png"] and skipped[0]["reason"]
    assert run["source"]["frame_files"] == ["f000.png", "f001.png", "f003.png", "f004.png"]
    assert frames_of(read_table(out / "faces.csv")) == [0, 1, 2, 3]  # frame 2 is f003.png, as run.json says


def test_a_video_cut_short_says_so_in_run_json(media_dir, tmp_path, weights_dir) -> None:
    clip = tmp_path / "cut.avi"
    writer = MjpegAviWriter(clip, 25.0, (320, 240))
    for _ in range(30):
        writer.write(small_frame(media_dir))
    writer.close()
    os.truncate(clip, clip.stat().st_size // 2)  # the header still announces 30 frames
    out = tmp_path / "out"
    result = run_cli("track", str(clip), "--out", str(out), "--no-progress", threads=2)
    assert result.returncode == 0
    check_clean(result, 1)
    assert "the header announces 30" in result.error_lines[0]
    run = json.loads((out / "run.json").read_text())
    frames = run["summary"]["frames"]
    assert 5 < frames < 30 and frames == len(frames_of(read_table(out / "faces.csv")))
    assert run["source"]["frames_announced"] == 30 and run["source"]["ended_early"] is True
    assert "the header announces 30" in run["summary"]["warning"]
    assert "frame_files" not in run["source"] and run["source"]["skipped_inputs"] == []


# -- a double Ctrl-C -------------------------------------------------------------------------------


@pytest.mark.parametrize("pipelined", [True, False])
def test_a_double_ctrl_c_leaves_run_json_and_files_agreeing(media_dir, tmp_path, weights_dir, pipelined) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"runtime:\n  pipelined: {str(pipelined).lower()}\n")
    rng = random.Random(21)
    for attempt in range(5):
        out = tmp_path / f"out{attempt}"
        p, logs = start_cli("--config", str(config), "track", str(media_dir / "obama_pingpong.mp4"), "--out",
                            str(out), "--video", "--no-progress", threads=2)
        table = out / "faces.csv"
        t = time.monotonic()
        while not (table.is_file() and table.stat().st_size > 40_000 + 20_000 * attempt):
            assert p.poll() is None and time.monotonic() - t < 300
            time.sleep(0.02)
        os.kill(p.pid, signal.SIGINT)
        time.sleep(rng.uniform(0.0, 0.01))  # the second one lands anywhere: a frame, the flush, the end
        os.kill(p.pid, signal.SIGINT)
        result = wait_cli(p, logs, timeout=120)
        assert result.returncode == 130, result.stderr
        assert "Traceback" not in result.stderr and result.peak_rss_mb < RSS_LIMIT_MB
        run = json.loads((out / "run.json").read_text())
        assert run["finished"] and run["interrupted"] and run["complete"] is False
        frames = frames_of(read_table(table))
        assert frames == list(range(len(frames)))
        assert run["summary"]["frames"] == len(frames) == count_video_frames(out / "overlay.avi"), attempt


# -- the stream's own timestamps ---------------------------------------------------------------------


VFR_TIMES_MS = [k * 40 for k in range(10)] + [400 + k * 100 for k in range(1, 11)]  # 25 fps, then 10 fps


def test_timestamps_of_a_variable_frame_rate_file_are_the_streams(media_dir, tmp_path) -> None:
    clip = tmp_path / "vfr.mkv"
    write_vfr_mkv(clip, [small_frame(media_dir)] * len(VFR_TIMES_MS), VFR_TIMES_MS)
    with VideoFileSource(clip) as source:
        stamps = [packet.timestamp for packet in source]
        source.seek(12)
        landed = next(iter(source))
    assert stamps == pytest.approx([t / 1000 for t in VFR_TIMES_MS], abs=1e-6)
    assert landed.index == 12 and landed.timestamp == pytest.approx(VFR_TIMES_MS[12] / 1000, abs=1e-6)


def test_the_time_column_is_the_streams_timestamp(media_dir, tmp_path, weights_dir) -> None:
    clip = tmp_path / "vfr.mkv"
    write_vfr_mkv(clip, [small_frame(media_dir)] * len(VFR_TIMES_MS), VFR_TIMES_MS)
    out = tmp_path / "out"
    result = run_cli("track", str(clip), "--out", str(out), "--no-progress", threads=2)
    assert result.returncode == 0, result.stderr
    # Matroska has no frame count: OpenCV estimates one (duration x fps), and the run notes the difference.
    check_clean(result, 1)
    assert "note:" in result.error_lines[0]
    times = {int(r["frame"]): float(r["time"]) for r in read_table(out / "faces.csv")}
    assert [times[k] for k in sorted(times)] == pytest.approx([t / 1000 for t in VFR_TIMES_MS], abs=1e-6)
