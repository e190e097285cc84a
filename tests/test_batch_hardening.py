"""`batch` and `track` against hostile uses: arguments that cannot expand, absurd --workers,
100,000 missing inputs, two or three commands on one --out (one of them killed), and the
hidden temporary files a killed run leaves. Each case checks the exit code, one line on
stderr with no traceback, the peak memory of the command, and what the files say."""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from engine.batch.index import JOURNAL_NAME, MARKER_NAME, InputStatus, read_index, read_marker
from engine.batch.inputs import expand_inputs
from engine.config import REPO_ROOT
from engine.out_lock import LOCK_NAME
from tests.support.cli_run import CliResult, run_cli, start_cli, wait_cli

# Peak resident memory of one command (the largest of its processes), in MB: model loading
# and a worker's tracking stay well under this; a runaway (a process per input, a list held
# many times over) would not.
RSS_LIMIT_MB = 900


def one_error_line(result: CliResult, text: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.error_lines) == 1 and text in result.error_lines[0], result.stderr
    assert result.peak_rss_mb < RSS_LIMIT_MB, result.peak_rss_mb


def table_frames(folder: Path) -> int:
    with open(folder / "faces.csv", newline="") as f:
        return len({row["frame"] for row in csv.DictReader(f)})


def check_done_inputs_whole(out: Path) -> int:
    """Every input folder whose marker says done holds a complete run of that many frames."""
    done = 0
    for folder in out.iterdir():
        if not (folder / MARKER_NAME).is_file():
            continue
        marker = json.loads((folder / MARKER_NAME).read_text())
        if marker["status"] != "done":
            continue
        run = json.loads((folder / "run.json").read_text())
        assert run["complete"] is True, folder
        assert table_frames(folder) == marker["frames"] == run["summary"]["frames"], folder
        done += 1
    return done


@pytest.fixture(scope="module")
def images(media_dir, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inputs") / "images"
    folder.mkdir()
    for p in sorted((media_dir / "dlib_faces").glob("*.jpg"))[:3]:
        shutil.copy(p, folder / p.name)
    return folder


# -- arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["glob", "nested list", "not utf-8"])
def test_input_arguments_that_cannot_expand_say_so_in_one_line(tmp_path, case) -> None:
    (tmp_path / "inner.txt").write_text("a.mp4\n")
    if case == "glob":
        argument, text = str(tmp_path / "*.nothing"), "the pattern matches nothing"
    elif case == "nested list":
        (tmp_path / "outer.txt").write_text("inner.txt\n")
        argument, text = str(tmp_path / "outer.txt"), "a list file may not name other list files"
    else:
        (tmp_path / "latin1.txt").write_bytes("caf\xe9.mp4\n".encode("latin-1"))
        argument, text = str(tmp_path / "latin1.txt"), "not UTF-8 text"
    result = run_cli("batch", argument, "--out", str(tmp_path / "out"), "--no-progress")
    assert result.returncode == 1
    one_error_line(result, text)
    assert not (tmp_path / "out").exists()  # nothing started


def test_workers_are_capped_by_the_usable_cpus(images, tmp_path, weights_dir) -> None:
    inputs = []
    for k in range(3):  # three one-image folders
        folder = tmp_path / f"set{k}"
        folder.mkdir()
        shutil.copy(next(images.iterdir()), folder / "a.jpg")
        inputs.append(str(folder))
    p, logs = start_cli("batch", *inputs, "--out", str(tmp_path / "out"), "--workers", "10000", "--no-progress",
                        preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}))
    most = 0
    done = threading.Event()

    def count_workers() -> None:  # worker processes alive at once, sampled
        nonlocal most
        while not done.wait(0.05):
            try:
                children = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
            except OSError:
                continue
            most = max(most, len(children))

    sampler = threading.Thread(target=count_workers)
    sampler.start()
    result = wait_cli(p, logs)
    done.set()
    sampler.join()
    assert result.returncode == 0, result.stderr
    assert "on 1 local worker process (--workers 10000 capped at the 1 usable CPUs)" in result.stdout
    assert most <= 2  # the worker, and multiprocessing's resource tracker at most
    assert result.peak_rss_mb < RSS_LIMIT_MB
    assert "Traceback" not in result.stderr


# -- scale -------------------------------------------------------------------------------------


def test_100000_missing_inputs_are_recorded_without_folders(tmp_path, report_figure) -> None:
    listing = tmp_path / "missing.txt"
    listing.write_text("".join(f"/nonexistent/set/clip_{k:06d}.mp4\n" for k in range(100_000)))
    out = tmp_path / "out"
    t = time.perf_counter()
    result = run_cli("batch", str(listing), "--out", str(out), "--no-progress")
    first = time.perf_counter() - t
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "100000 missing or unreadable, recorded as failed; 0 to run" in result.stdout
    assert "... and 99980 more failed (see the index)" in result.stdout  # not 100,000 lines
    assert result.peak_rss_mb < 600, result.peak_rss_mb
    assert sorted(os.listdir(out)) == sorted([LOCK_NAME, "index.csv", "index.parquet", JOURNAL_NAME])
    rows = read_index(out / "index.csv")
    assert len(rows) == 100_000 and all(r.status is InputStatus.FAILED and r.output == "" for r in rows)
    assert rows[7].error == "/nonexistent/set/clip_000007.mp4: no such file or folder"
    assert len((out / JOURNAL_NAME).read_bytes().splitlines()) == 100_000

    t = time.perf_counter()
    again = run_cli("batch", str(listing), "--out", str(out), "--no-progress")  # resumed: all recorded
    resumed = time.perf_counter() - t
    assert again.returncode == 0 and "100000 finished before, skipped; 0 to run" in again.stdout
    assert len(read_index(out / "index.csv")) == 100_000
    report_figure(f"100,000 missing paths: {first:.1f} s (peak RSS {result.peak_rss_mb:.0f} MB), "
                  f"resumed {resumed:.1f} s")


# -- two commands on one --out -------------------------------------------------------------------


def wait_for(condition, p, timeout: float = 300) -> None:
    t = time.monotonic()
    while not condition():
        assert p.poll() is None, "the command ended early"
        assert time.monotonic() - t < timeout
        time.sleep(0.05)


def test_a_second_command_on_one_out_refuses_and_waiters_run_in_turn(media_dir, images, tmp_path,
                                                                     weights_dir) -> None:
    out = tmp_path / "out"
    long_clip = media_dir / "obama_pingpong.mp4"
    first, first_logs = start_cli("batch", str(long_clip), "--out", str(out), "--max-frames", "400",
                                  "--workers", "1", "--no-progress")
    folder = out / expand_inputs([str(long_clip)])[0].name
    wait_for(lambda: (folder / "faces.csv").is_file(), first)

    for target in (folder, out):  # the folder a worker writes into, and the dataset folder
        track = run_cli("track", str(media_dir / "obama.mp4"), "--out", str(target), "--no-progress")
        assert track.returncode == 1
        one_error_line(track, f"{target} is in use by another tracker-app command")
    refused = run_cli("batch", str(media_dir / "obama.mp4"), "--out", str(out), "--no-progress")
    assert refused.returncode == 1
    one_error_line(refused, f"{out} is in use by another tracker-app command")

    # Two more with --wait: each runs once the one before has let go; the index keeps every row.
    waiting = [start_cli("batch", str(p), "--out", str(out), "--max-frames", "30", "--no-progress", "--wait")
               for p in (media_dir / "obama.mp4", images)]
    results = [wait_cli(first, first_logs)] + [wait_cli(p, logs) for p, logs in waiting]
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert all("Traceback" not in r.stderr and r.peak_rss_mb < RSS_LIMIT_MB for r in results)
    rows = read_index(out / "index.csv")
    assert sorted(Path(r.input).name for r in rows) == sorted(["obama_pingpong.mp4", "obama.mp4", "images"])
    assert all(r.status is InputStatus.DONE for r in rows)
    assert check_done_inputs_whole(out) == 3


def waits_for_a_lock(pid: int) -> bool:
    """Whether process ``pid`` is blocked on a file lock (a waiter's line in /proc/locks)."""
    return any("->" in fields and str(pid) in fields
               for fields in (line.split() for line in Path("/proc/locks").read_text().splitlines()))


def test_two_tracks_on_one_out_the_second_refuses_or_waits(media_dir, tmp_path, weights_dir) -> None:
    out = tmp_path / "out"
    first, first_logs = start_cli("track", str(media_dir / "obama_pingpong.mp4"), "--out", str(out),
                                  "--max-frames", "150", "--no-progress", threads=2)
    wait_for(lambda: (out / "faces.csv").is_file(), first)
    # Stopped, it keeps the folder's lock and cannot finish before the others look (150 frames
    # once took less time than the next command's start-up, which then found the folder free).
    os.kill(first.pid, signal.SIGSTOP)
    try:
        refused = run_cli("track", str(media_dir / "obama.mp4"), "--out", str(out), "--overwrite", "--no-progress")
        assert refused.returncode == 1
        one_error_line(refused, f"(process {first.pid}); wait for it to end")
        second_run, second_logs = start_cli("track", str(media_dir / "obama.mp4"), "--out", str(out), "--overwrite",
                                            "--no-progress", "--wait")  # once the first has finished, replaces its run
        wait_for(lambda: waits_for_a_lock(second_run.pid), second_run)  # it really waits for the first
    finally:
        os.kill(first.pid, signal.SIGCONT)
    second = wait_cli(second_run, second_logs)
    done = wait_cli(first, first_logs)
    assert done.returncode == 0 and second.returncode == 0, second.stderr
    assert "Traceback" not in second.stderr and second.peak_rss_mb < RSS_LIMIT_MB
    run = json.loads((out / "run.json").read_text())
    assert run["complete"] and run["source"]["description"].endswith("obama.mp4")
    assert table_frames(out) == run["summary"]["frames"] == 55


def test_two_batches_at_once_one_killed_leave_every_done_input_whole(media_dir, images, tmp_path,
                                                                     weights_dir) -> None:
    out = tmp_path / "out"
    inputs = [str(media_dir / "obama_pingpong.mp4"), str(media_dir / "obama.mp4"), str(images)]
    killed, _ = start_cli("batch", *inputs, "--out", str(out), "--max-frames", "200", "--workers", "2",
                          "--no-progress")
    wait_for(lambda: (out / LOCK_NAME).is_file() and (out / LOCK_NAME).read_text().strip() == str(killed.pid),
             killed)  # it holds the folder: the other one waits for it
    survivor, survivor_logs = start_cli("batch", *inputs, "--out", str(out), "--max-frames", "200",
                                        "--workers", "2", "--no-progress", "--wait")
    wait_for(lambda: any((f / MARKER_NAME).is_file() for f in out.iterdir() if f.is_dir()), killed)
    os.killpg(killed.pid, signal.SIGKILL)  # the coordinator and its workers, mid-way
    killed.wait()
    assert check_done_inputs_whole(out) >= 1  # what it marked done before the kill is whole
    result = wait_cli(survivor, survivor_logs)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert result.peak_rss_mb < RSS_LIMIT_MB
    assert check_done_inputs_whole(out) == 3
    rows = read_index(out / "index.csv")
    assert len(rows) == 3 and all(r.status is InputStatus.DONE for r in rows)
    for item in expand_inputs(inputs):
        assert read_marker(out / item.name, item.source) is not None


# -- Ctrl-C while the workers start ------------------------------------------------------------------

# Loaded by every Python process of the batch (PYTHONPATH): a spawned worker says it is
# starting, then waits for the test, so the Ctrl-C lands during its start-up, every time.
_START_GATE = """
import os, time
if b"spawn_main" in open("/proc/self/cmdline", "rb").read():
    gate = os.environ["TRACKER_TEST_START_GATE"]
    open(os.path.join(gate, "started-%d" % os.getpid()), "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(gate, "go")) and time.monotonic() < deadline:
        time.sleep(0.01)
"""


def test_ctrl_c_while_the_workers_start_is_one_line_and_a_clean_stop(media_dir, tmp_path, weights_dir) -> None:
    """A terminal's Ctrl-C reaches the whole process group. A worker still starting (its
    interpreter importing, before it ignores SIGINT) died of it with a 'Fatal Python error'
    and a traceback; workers now start with SIGINT blocked until they ignore it."""
    gate, site = tmp_path / "gate", tmp_path / "site"
    gate.mkdir()
    site.mkdir()
    (site / "sitecustomize.py").write_text(_START_GATE)
    out = tmp_path / "out"
    p, logs = start_cli("batch", str(media_dir / "obama.mp4"), "--out", str(out), "--workers", "1", "--no-progress",
                        env={"TRACKER_TEST_START_GATE": str(gate),
                             "PYTHONPATH": os.pathsep.join([str(site), str(REPO_ROOT)])})
    try:
        wait_for(lambda: any(gate.glob("started-*")), p)
        os.killpg(p.pid, signal.SIGINT)  # what a terminal sends
    finally:
        (gate / "go").touch()
    result = wait_cli(p, logs, timeout=300)
    assert result.returncode == 130, result.stderr
    one_error_line(result, "1 input(s) not finished")
    assert read_index(out / "index.csv") == [] or all(r.status is not InputStatus.DONE
                                                      for r in read_index(out / "index.csv"))


# -- what a killed run leaves -------------------------------------------------------------------


def test_a_killed_runs_partial_point_cache_is_reclaimed_by_the_next_command(media_dir, tmp_path,
                                                                           weights_dir) -> None:
    out = tmp_path / "out"
    p, _ = start_cli("track", str(media_dir / "obama_pingpong.mp4"), "--out", str(out), "--animation", "pc2",
                     "--no-progress")

    def partials() -> list[Path]:
        return [q for q in (out / "animation").glob(".*.partial")] if (out / "animation").is_dir() else []

    wait_for(lambda: sum(q.stat().st_size for q in partials()) > 2_000_000, p)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert partials()
    again = run_cli("track", str(media_dir / "obama.mp4"), "--out", str(out), "--max-frames", "3", "--no-progress")
    assert again.returncode == 1
    one_error_line(again, "holds an earlier run")  # refused without --overwrite ...
    assert not partials()  # ... but what nobody was writing any more is gone


# -- the pieces, without the models ------------------------------------------------------------------


def test_a_journal_line_cut_by_a_kill_is_ignored_and_the_next_line_starts_afresh(tmp_path) -> None:
    from engine.batch.index import InputOutcome, Journal, read_journal

    done = InputOutcome(input="/d/a.mp4", output="a-1", status=InputStatus.DONE, frames=3, faces=3, tracks=1)
    with Journal(tmp_path) as journal:
        journal.append(done)
    with open(tmp_path / JOURNAL_NAME, "ab") as f:
        f.write(b'{"input":"/d/b.mp4","output":"b-2","sta')  # the coordinator died mid-line
    failed = InputOutcome(input="/d/c.mp4", output="", status=InputStatus.FAILED, error="/d/c.mp4: file is empty")
    with Journal(tmp_path) as journal:
        journal.append(failed)
        journal.append(dataclasses.replace(done, frames=4))  # run again: the last line wins
    outcomes, lines = read_journal(tmp_path)
    assert lines == 4 and list(outcomes) == ["/d/a.mp4", "/d/c.mp4"]
    assert outcomes["/d/a.mp4"].frames == 4 and outcomes["/d/c.mp4"] == failed


def test_the_folder_lock_refuses_another_process_and_is_reentrant_within_one(tmp_path) -> None:
    import subprocess
    import sys

    from engine.out_lock import OutDirBusyError, lock_out_dir

    (tmp_path / ".faces.npz.abc.partial").write_bytes(b"x" * 1000)  # left by a killed run
    probe = ("import sys; from engine.out_lock import lock_out_dir, OutDirBusyError\n"
             "try:\n    lock_out_dir(sys.argv[1]).release(); print('locked')\n"
             "except OutDirBusyError as e:\n    print(e)\n")
    with lock_out_dir(tmp_path):
        assert not (tmp_path / ".faces.npz.abc.partial").exists()  # reclaimed with the lock
        with lock_out_dir(tmp_path):  # the same process again (a batch task, then its session)
            pass
        other = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True,
                               check=True, cwd=Path(__file__).resolve().parent.parent)
        assert f"in use by another tracker-app command (process {os.getpid()})" in other.stdout
    other = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True,
                           check=True, cwd=Path(__file__).resolve().parent.parent)
    assert other.stdout.strip() == "locked"
    with pytest.raises(OutDirBusyError):  # noqa: PT012 - held by a child that keeps it
        child = subprocess.Popen([sys.executable, "-c", "import sys, time; from engine.out_lock import "
                                  "lock_out_dir; lock_out_dir(sys.argv[1]); print('ok', flush=True); "
                                  "time.sleep(30)", str(tmp_path)], stdout=subprocess.PIPE, text=True,
                                 cwd=Path(__file__).resolve().parent.parent)
        try:
            assert child.stdout.readline().strip() == "ok"
            lock_out_dir(tmp_path)
        finally:
            child.kill()
            child.wait()
    lock_out_dir(tmp_path).release()  # the kernel let go when the holder died
