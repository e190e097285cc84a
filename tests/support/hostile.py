"""Run `tracker-app` on a hostile input in a child process and measure what it cost.

The child's peak resident memory is its VmHWM, read every 5 ms while it runs
(``ru_maxrss`` from ``wait4`` would also count the memory of the test process the child
was forked from), so a test can state a memory bound and check it. stdout and stderr go
to files so the child is reaped by ``wait4`` itself (its CPU time), not by ``communicate``.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_RUNS: list["CliRun"] = []  # every run of the current test, for ``report_runs``


@dataclass(frozen=True)
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mb: float
    cpu_s: float

    def error_line(self) -> str:
        """The one line on stderr (asserting there is exactly one and no traceback)."""
        lines = self.stderr.splitlines()
        assert "Traceback" not in self.stderr, self.stderr[-3000:]
        assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{self.stderr[:3000]}"
        return lines[0]


def high_water_kb(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM: reset at exec, unlike ru_maxrss, which
    also counts the parent's memory a forked child started with)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass  # gone, or a zombie without memory: the last reading stands
    return 0


def reap_measured(pid: int, timeout: float, on_timeout: Callable[[], None]) -> tuple[int, os.struct_rusage, int]:
    """Wait for child ``pid``, reading its VmHWM every 5 ms: (wait status, resource usage,
    peak kB). After ``timeout`` s ``on_timeout`` runs once (it should kill) and the wait goes on."""
    deadline = time.monotonic() + timeout
    peak_kb = 0
    while True:
        peak_kb = max(peak_kb, high_water_kb(pid))
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage, peak_kb
        if time.monotonic() > deadline:
            on_timeout()
            deadline = float("inf")
        time.sleep(0.005)


def run_cli(*args: str | os.PathLike[str], cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 180.0, prefix: tuple[str, ...] = ()) -> CliRun:
    """``python -m tracker_app ARGS`` from this checkout; its exit code, output and peak RSS.

    ``prefix``: a command that execs the rest in the same process (``small_disk``)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([*prefix, sys.executable, "-m", "tracker_app", *map(str, args)], stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, cwd=cwd or REPO, env=full_env)
        timed_out: list[bool] = []
        status, usage, peak_kb = reap_measured(proc.pid, timeout, lambda: (timed_out.append(True), proc.kill()))
        if timed_out:
            raise AssertionError(f"tracker-app {' '.join(map(str, args))} ran over {timeout} s")
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keeps Popen from waiting again
        out.seek(0)
        err.seek(0)
        code = proc.returncode
        if code < 0:
            raise AssertionError(f"tracker-app died of {signal.Signals(-code).name}: {err.read().decode()[-2000:]}")
        run = CliRun(code, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                     peak_kb / 1024, usage.ru_utime + usage.ru_stime)
        _RUNS.append(run)
        return run


def small_disk(folder: Path, megabytes: int) -> tuple[str, ...]:
    """A ``run_cli`` prefix: the child sees a ``megabytes`` tmpfs at ``folder`` (its own mount
    namespace, so nothing is mounted for anyone else and nothing needs cleaning up)."""
    folder.mkdir(parents=True, exist_ok=True)
    return ("unshare", "--map-root-user", "--mount", "sh", "-c",
            f'mount -t tmpfs -o size={megabytes}m tmpfs "$0" && exec "$@"', str(folder))


def can_make_small_disks(tmp_path: Path) -> bool:
    probe = subprocess.run([*small_disk(tmp_path / "probe", 1), "true"], capture_output=True)
    return probe.returncode == 0


@pytest.fixture(autouse=True)
def report_runs(report_figure):
    """Import into a test module: each test's runs are reported with the measured figures."""
    _RUNS.clear()
    yield
    for run in _RUNS:
        report_figure(f"exit {run.returncode}, peak RSS {run.peak_rss_mb:.0f} MB, CPU {run.cpu_s:.2f} s")
    _RUNS.clear()
