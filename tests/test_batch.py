"""`tracker-app batch` end to end on a set built from the shared media: the two obama
clips, an image folder, a zero-byte file, a truncated file and a path that does not
exist; then the same set killed half-way, interrupted, and run again."""
from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.batch.index import (
    MARKER_NAME,
    InputOutcome,
    InputStatus,
    read_index,
    read_marker,
    write_marker,
)
from engine.batch.inputs import BatchInputError, expand_inputs
from engine.config import REPO_ROOT

# The long clip is cut here (the same flag for `track` and `batch`) so it is still in
# flight when the short one ends, without making the suite slow.
MAX_FRAMES = "200"
GOOD = ("obama_pingpong", "obama", "images")
BAD = {"empty": "file is empty", "truncated": "not a readable video", "vanished": "no such file"}
UP_FRONT = ("empty", "vanished")  # found before any task runs: recorded as failed without a folder


def batch(*args: str) -> subprocess.Popen:
    """The CLI in its own session, so a test can SIGKILL its whole process group."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "tracker_app.cli", "--threads", "1", "batch", *args],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


def finish(p: subprocess.Popen, timeout: float = 600) -> tuple[str, str]:
    stdout, stderr = p.communicate(timeout=timeout)
    assert "Traceback" not in stderr, stderr
    return stdout, stderr


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, media_dir) -> dict[str, Path]:
    """name -> input path; the clips are named through a list file, as a dataset would be."""
    root = tmp_path_factory.mktemp("dataset")
    images = root / "images"
    images.mkdir()
    for p in sorted((media_dir / "dlib_faces").glob("*.jpg"))[:6]:
        shutil.copy(p, images / p.name)
    (root / "empty.mp4").write_bytes(b"")
    (root / "truncated.mp4").write_bytes((media_dir / "obama_pingpong.mp4").read_bytes()[:300_000])
    inputs = {"obama_pingpong": media_dir / "obama_pingpong.mp4", "obama": media_dir / "obama.mp4",
              "images": images, "empty": root / "empty.mp4", "truncated": root / "truncated.mp4",
              "vanished": root / "vanished.mp4"}
    lines = ["# the rest of the set; relative lines are relative to this file", str(inputs["obama"]),
             "images", "empty.mp4", "truncated.mp4", "vanished.mp4"]
    (root / "rest.txt").write_text("\n".join(lines) + "\n")
    return inputs


def batch_args(dataset: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [str(dataset["obama_pingpong"]), str(dataset["obama_pingpong"].parent / "obama.mp4"),
            str(dataset["images"].parent / "rest.txt"), "--out", str(out), "--max-frames", MAX_FRAMES,
            "--no-progress", *extra]


@pytest.fixture(scope="module")
def track_tables(dataset, tmp_path_factory, weights_dir) -> dict[str, bytes]:
    """faces.csv of `tracker-app track` on each good input, with the same flags."""
    out = tmp_path_factory.mktemp("track")
    tables = {}
    for name in GOOD:
        r = subprocess.run([sys.executable, "-m", "tracker_app.cli", "--threads", "1", "track", str(dataset[name]),
                            "--out", str(out / name), "--max-frames", MAX_FRAMES, "--no-progress"],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
        assert r.returncode == 0, r.stderr
        tables[name] = (out / name / "faces.csv").read_bytes()
    return tables


def folders(out: Path, dataset: dict[str, Path]) -> dict[str, Path]:
    return {name: out / item.name for name, item in
            zip(dataset, expand_inputs([str(p) for p in dataset.values()]))}


def check_complete(out: Path, dataset: dict[str, Path], track_tables: dict[str, bytes]) -> None:
    """Every good input done with track's faces.csv, every bad one failed with its error."""
    rows = {Path(o.input).name: o for o in read_index(out / "index.csv")}
    assert len(rows) == len(dataset)
    where = folders(out, dataset)
    for name in GOOD:
        row = rows[dataset[name].name]
        assert row.status is InputStatus.DONE and row.error == ""
        assert (where[name] / "faces.csv").read_bytes() == track_tables[name]
        assert row.frames == (len(os.listdir(dataset[name])) if name == "images" else int(MAX_FRAMES)
                              if name == "obama_pingpong" else 55)
        assert row.faces >= row.frames - 1 and row.tracks >= 1
        assert row.people == json.loads((where[name] / "run.json").read_text())["summary"]["people"] >= 1
    for name, error in BAD.items():
        row = rows[dataset[name].name]
        assert row.status is InputStatus.FAILED and error in row.error and "\n" not in row.error
        assert row.frames == 0


@pytest.fixture(scope="module")
def local_run(dataset, tmp_path_factory, weights_dir) -> tuple[Path, str, int]:
    out = tmp_path_factory.mktemp("batch") / "out"
    p = batch(*batch_args(dataset, out, "--workers", "2"))
    stdout, _ = finish(p)
    return out, stdout, p.returncode


def test_every_good_input_done_like_track_and_bad_ones_indexed(local_run, dataset, track_tables) -> None:
    out, stdout, returncode = local_run
    assert returncode == 1  # some inputs failed
    check_complete(out, dataset, track_tables)
    order = [Path(o.input).name for o in read_index(out / "index.csv")]
    assert order == [p.name for p in dataset.values()]  # the order of the command line and the list
    assert "3 done, 3 failed, 0 skipped" in stdout and "fps overall" in stdout
    assert f"index: {out / 'index.csv'}" in stdout


def test_second_run_skips_everything_and_retry_failed_reruns_failures(local_run, dataset, track_tables) -> None:
    out, _, _ = local_run
    def marker_times() -> dict[str, int]:
        return {name: (f / MARKER_NAME).stat().st_mtime_ns for name, f in folders(out, dataset).items()
                if name not in UP_FRONT}

    markers = marker_times()
    assert not any(folders(out, dataset)[name].exists() for name in UP_FRONT)  # failed with no folder
    index = (out / "index.csv").read_bytes()
    stdout, _ = finish(batch(*batch_args(dataset, out)))
    assert "6 finished before, skipped; 0 to run" in stdout and "0 done, 0 failed, 6 skipped" in stdout
    assert (out / "index.csv").read_bytes() == index
    assert marker_times() == markers

    stdout, _ = finish(batch(*batch_args(dataset, out, "--retry-failed")))
    assert ("3 finished before, skipped; 2 missing or unreadable, recorded as failed; 1 to run" in stdout
            and "0 done, 3 failed, 3 skipped" in stdout)
    after = marker_times()
    assert all(after[n] == markers[n] for n in GOOD) and after["truncated"] != markers["truncated"]
    check_complete(out, dataset, track_tables)


def wait_for_marker(p: subprocess.Popen, folder: Path, timeout: float = 300) -> None:
    t = time.monotonic()
    while not (folder / MARKER_NAME).exists():
        assert p.poll() is None, p.communicate()
        assert time.monotonic() - t < timeout, "the short clip never finished"
        time.sleep(0.05)


def check_killed_state(out: Path, dataset: dict[str, Path], track_tables: dict[str, bytes]) -> None:
    """What a kill leaves: the long clip was in flight, so it is partial and not counted as done;
    whatever has a done marker has the complete table."""
    where = folders(out, dataset)
    long_clip = where["obama_pingpong"]
    assert read_marker(long_clip, str(dataset["obama_pingpong"])) is None
    assert (long_clip / "faces.csv").is_file()  # it had begun: a half-written output is there
    assert len((long_clip / "faces.csv").read_bytes()) < len(track_tables["obama_pingpong"])
    rows = read_index(out / "index.csv")
    assert str(dataset["obama_pingpong"]) not in {o.input for o in rows}
    for o in rows:
        if o.status is InputStatus.DONE:
            name = next(n for n, f in where.items() if f.name == o.output)
            assert (where[name] / "faces.csv").read_bytes() == track_tables[name]


def start_with_the_long_clip_in_flight(dataset: dict[str, Path], out: Path) -> subprocess.Popen:
    """A one-worker batch, the short clip first: once it is done and the long clip's table has
    rows, the long clip is in flight for certain. (With two workers, which clip ends first was
    a race: on a busy machine the second worker started seconds late, and the long clip, on
    the first, was done before the short one.)"""
    p = batch(str(dataset["obama"]), str(dataset["obama_pingpong"]), str(dataset["images"].parent / "rest.txt"),
              "--out", str(out), "--max-frames", MAX_FRAMES, "--no-progress", "--workers", "1")
    where = folders(out, dataset)
    wait_for_marker(p, where["obama"])
    table = where["obama_pingpong"] / "faces.csv"
    t = time.monotonic()
    while not table.is_file() or len(table.read_bytes()) < 20_000:
        assert p.poll() is None, p.communicate()
        assert time.monotonic() - t < 300, "the long clip never began"
        time.sleep(0.05)
    return p


def test_sigkill_midway_then_rerun_ends_complete(dataset, track_tables, tmp_path) -> None:
    out = tmp_path / "out"
    p = start_with_the_long_clip_in_flight(dataset, out)
    os.killpg(p.pid, signal.SIGKILL)  # the coordinator and its worker, at once
    p.communicate()
    check_killed_state(out, dataset, track_tables)

    stdout, _ = finish(batch(*batch_args(dataset, out, "--workers", "2")))
    assert "skipped" in stdout
    check_complete(out, dataset, track_tables)


def test_ctrl_c_stops_cleanly_and_the_next_run_finishes(dataset, track_tables, tmp_path) -> None:
    out = tmp_path / "out"
    p = start_with_the_long_clip_in_flight(dataset, out)
    os.killpg(p.pid, signal.SIGINT)  # what a terminal sends: to the coordinator and its worker
    stdout, stderr = finish(p, timeout=120)
    assert p.returncode == 130
    assert "done" in stdout and f"index: {out / 'index.csv'}" in stdout  # the summary still comes
    assert "not finished" in stderr and "run the same command again" in stderr
    assert stderr.count("tracker-app:") == 1
    check_killed_state(out, dataset, track_tables)

    finish(batch(*batch_args(dataset, out, "--workers", "2")))
    check_complete(out, dataset, track_tables)


def start_long_clip(dataset: dict[str, Path], out: Path) -> tuple[subprocess.Popen, Path, list[int]]:
    """A one-worker batch on the long clip, once its table has rows; with the worker's pid."""
    p = batch(str(dataset["obama_pingpong"]), "--out", str(out), "--max-frames", MAX_FRAMES, "--no-progress",
              "--workers", "1")
    folder = folders(out, dataset)["obama_pingpong"]
    t = time.monotonic()
    while not (folder / "faces.csv").is_file() or len((folder / "faces.csv").read_bytes()) < 20_000:
        assert p.poll() is None and time.monotonic() - t < 300
        time.sleep(0.05)
    children = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
    workers = [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    return p, folder, workers


def test_workers_stop_by_themselves_when_the_coordinator_is_killed(dataset, tmp_path) -> None:
    p, folder, workers = start_long_clip(dataset, tmp_path / "out")
    assert len(workers) == 1
    p.kill()  # the coordinator alone (an OOM kill, say): nobody is left to tell the worker
    p.communicate()
    t = time.monotonic()
    while Path(f"/proc/{workers[0]}").exists() and b"spawn_main" in Path(f"/proc/{workers[0]}/cmdline").read_bytes():
        assert time.monotonic() - t < 60, "the orphaned worker kept running"
        time.sleep(0.1)
    assert read_marker(folder, str(dataset["obama_pingpong"])) is None  # it stopped mid-clip: not done


def test_a_worker_killed_mid_input_is_replaced_and_its_input_run_again(dataset, track_tables, tmp_path) -> None:
    p, folder, workers = start_long_clip(dataset, tmp_path / "out")
    assert len(workers) == 1
    os.kill(workers[0], signal.SIGKILL)
    stdout, _ = finish(p)
    assert p.returncode == 0 and "1 done, 0 failed" in stdout
    assert (folder / "faces.csv").read_bytes() == track_tables["obama_pingpong"]


# -- the same on Ray ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_address():
    """A local Ray instance (2 CPUs) that the CLI joins with --ray ADDRESS, like a cluster."""
    try:
        import ray
    except ImportError:
        pytest.fail("Ray is not installed: pip install '.[ray]' (the test extra includes it)")
    context = ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING,
                       log_to_driver=False)
    yield context.address_info["gcs_address"]
    ray.shutdown()


def test_ray_every_good_input_done_like_track_then_skipped(ray_address, dataset, track_tables, tmp_path) -> None:
    out = tmp_path / "out"
    p = batch(*batch_args(dataset, out, "--ray", ray_address))
    stdout, _ = finish(p)
    assert p.returncode == 1 and f"on Ray at {ray_address}" in stdout and "3 done, 3 failed, 0 skipped" in stdout
    check_complete(out, dataset, track_tables)
    stdout, _ = finish(batch(*batch_args(dataset, out, "--ray", ray_address)))
    assert "6 finished before, skipped; 0 to run" in stdout


def test_ray_driver_killed_midway_then_rerun_ends_complete(ray_address, dataset, track_tables, tmp_path) -> None:
    out = tmp_path / "out"
    p = batch(*batch_args(dataset, out, "--ray", ray_address))
    wait_for_marker(p, folders(out, dataset)["obama"])
    os.killpg(p.pid, signal.SIGKILL)  # the driver; its tasks die with it on the cluster
    p.communicate()
    check_killed_state(out, dataset, track_tables)
    stdout, _ = finish(batch(*batch_args(dataset, out, "--ray", ray_address)))
    assert "skipped" in stdout
    check_complete(out, dataset, track_tables)


def test_ray_without_address_starts_its_own_instance(dataset, track_tables, tmp_path) -> None:
    out = tmp_path / "out"
    p = batch(str(dataset["obama"]), str(dataset["vanished"]), "--out", str(out), "--max-frames", MAX_FRAMES,
              "--no-progress", "--ray", "--workers", "2")
    stdout, _ = finish(p)
    assert p.returncode == 1 and "1 done, 1 failed" in stdout and "on a local Ray instance (2 CPUs)" in stdout
    rows = {Path(o.input).name: o for o in read_index(out / "index.csv")}
    assert rows["obama.mp4"].status is InputStatus.DONE and "no such file" in rows["vanished.mp4"].error
    assert (folders(out, dataset)["obama"] / "faces.csv").read_bytes() == track_tables["obama"]


# -- inputs and index, without the models ------------------------------------------------


def test_inputs_from_lists_and_globs(tmp_path) -> None:
    for name in ("a.mp4", "b.mp4", "c.avi"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "list.txt").write_text("# comment\nb.mp4\n\nsub\nmissing.mp4\n")
    items = expand_inputs([str(tmp_path / "*.mp4"), str(tmp_path / "list.txt"), str(tmp_path / "c.avi")])
    assert [Path(i.source).name for i in items] == ["a.mp4", "b.mp4", "sub", "missing.mp4", "c.avi"]
    assert all(os.path.isabs(i.source) for i in items)
    assert len({i.name for i in items}) == len(items)
    assert [i.name for i in expand_inputs([str(tmp_path / "list.txt")])] == [i.name for i in items[1:4]]
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.mp4").write_bytes(b"x")  # same file name elsewhere: another folder
    assert expand_inputs([str(other / "a.mp4")])[0].name != items[0].name
    with pytest.raises(BatchInputError, match="matches nothing"):
        expand_inputs([str(tmp_path / "*.mkv")])
    with pytest.raises(BatchInputError, match="cannot read the input list"):
        expand_inputs([str(tmp_path / "nolist.txt")])


def test_marker_of_another_input_or_unreadable_counts_as_not_done(tmp_path) -> None:
    folder = tmp_path / "x"
    outcome = InputOutcome(input="/data/a.mp4", output="x", status=InputStatus.DONE, frames=3, faces=3, tracks=1,
                           people=1, seconds=0.5)
    write_marker(folder, outcome)
    assert read_marker(folder, "/data/a.mp4") == outcome
    older = {k: v for k, v in outcome.to_row().items() if k != "people"}  # a marker from before the column
    (folder / MARKER_NAME).write_text(json.dumps(older))
    assert read_marker(folder, "/data/a.mp4") == InputOutcome(**{**outcome.__dict__, "people": 0})
    assert read_marker(folder, "/data/b.mp4") is None
    (folder / MARKER_NAME).write_text('{"input": "/data/a.mp4", "sta')  # cut short by hand
    assert read_marker(folder, "/data/a.mp4") is None
    assert not list(folder.glob("*.partial"))


def test_index_csv_and_parquet_have_one_row_per_input(local_run) -> None:
    out, _, _ = local_run
    with open(out / "index.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["input", "output", "status", "frames", "faces", "tracks", "people", "seconds", "error"]
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(out / "index.parquet").to_pylist()
    assert [r["input"] for r in table] == [r["input"] for r in rows]
    assert [r["status"] for r in table] == [r["status"] for r in rows]
