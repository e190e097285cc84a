"""Run `tracker-app` as a user would and keep what a hostile-input test checks: the exit
code, stdout, stderr and the peak resident memory of the process, its VmHWM read every
5 ms while it runs (``wait4``'s ``ru_maxrss`` would count the memory of the test process it
was forked from: in a full test session that is a gigabyte)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.config import REPO_ROOT
from tests.support.hostile import reap_measured


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mb: float

    @property
    def error_lines(self) -> list[str]:
        """The non-blank lines on stderr."""
        return [line for line in self.stderr.splitlines() if line.strip()]


def start_cli(*args: str, threads: int = 1, preexec_fn: Callable[[], None] | None = None,
              new_session: bool = True, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Path]:
    """The CLI in the background (its own session, so a test can signal its process group);
    stdout and stderr go to files in a temporary folder, returned beside the process.
    ``env``: variables added to this process's environment."""
    logs = Path(tempfile.mkdtemp(prefix="cli-"))
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    with open(logs / "stdout", "w") as out, open(logs / "stderr", "w") as err:
        p = subprocess.Popen([sys.executable, "-m", "tracker_app.cli", "--threads", str(threads), *args],
                             cwd=REPO_ROOT, stdout=out, stderr=err, text=True, env=env,
                             start_new_session=new_session, preexec_fn=preexec_fn)
    return p, logs


def wait_cli(p: subprocess.Popen, logs: Path, timeout: float = 600) -> CliResult:
    """Wait for a ``start_cli`` process (killing its group after ``timeout`` s)."""
    import signal

    status, _, peak_kb = reap_measured(p.pid, timeout, lambda: os.killpg(p.pid, signal.SIGKILL))
    p.returncode = os.waitstatus_to_exitcode(status)
    return CliResult(p.returncode, (logs / "stdout").read_text(), (logs / "stderr").read_text(), peak_kb / 1024)


def run_cli(*args: str, timeout: float = 600, **kw: object) -> CliResult:
    p, logs = start_cli(*args, **kw)  # type: ignore[arg-type]
    return wait_cli(p, logs, timeout)
