"""Flags that make no sense are refused in one line naming the flag, before any model loads
(issue 21: --max-faces -3 meant "no limit", --detect-every -1 meant 0, --workers 0 the default,
--vmc ':' was accepted, argparse printed 9 usage lines, a --frames note echoed 54 KB)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.vmc import VmcTarget, VmcTargetError
from tests.support.hostile import report_runs, run_cli  # noqa: F401 (report_runs: a fixture)

# Refused while parsing the command line or the config: 15-40 MB, nothing but the interpreter
# (and NumPy for --vmc, checked after the config is read).
REFUSED_RSS_LIMIT_MB = 80


@pytest.mark.parametrize("argv,line", [
    (["track", "x.mp4", "--max-faces", "-3"], "argument --max-faces: must be at least 0, got -3 "
                                              "(see `tracker-app track --help`)"),
    (["track", "x.mp4", "--detect-every", "-1"], "argument --detect-every: must be at least 0, got -1 "
                                                 "(see `tracker-app track --help`)"),
    (["track", "x.mp4", "--max-frames", "0"], "argument --max-frames: must be at least 1, got 0 "
                                              "(see `tracker-app track --help`)"),
    (["batch", "x.mp4", "--out", "o", "--workers", "0"], "argument --workers: must be at least 1, got 0 "
                                                         "(see `tracker-app batch --help`)"),
    (["batch", "x.mp4", "--out", "o", "--workers", "many"], "argument --workers: expected a whole number, "
                                                            "got 'many' (see `tracker-app batch --help`)"),
    (["--threads", "0", "track", "x.mp4"], "argument --threads: must be at least 1, got 0 "
                                           "(see `tracker-app --help`)"),
    (["gui", "--camera", "-1"], "argument --camera: must be at least 0, got -1 (see `tracker-app gui --help`)"),
    (["track"], "the following arguments are required: VIDEO (see `tracker-app track --help`)"),
    (["track", "x.mp4", "--smoother", "fast"], "argument --smoother: invalid choice: 'fast' (choose from "
                                               "'lookahead', 'realtime', 'off') (see `tracker-app track --help`)"),
    (["track", "x.mp4", "--bogus"], "unrecognized arguments: --bogus (see `tracker-app --help`)"),
    (["track", "x.mp4", "--vmc", ":"], "--vmc: VMC target ':': no port after ':' (HOST:PORT, HOST or :PORT)"),
    (["track", "x.mp4", "--vmc", "localhost:"], "--vmc: VMC target 'localhost:': no port after ':' "
                                                "(HOST:PORT, HOST or :PORT)"),
])
def test_a_bad_flag_is_one_line_naming_it(argv: list[str], line: str, tmp_path: Path) -> None:
    run = run_cli(*argv, cwd=tmp_path)
    assert run.returncode in (1, 2), run
    assert run.error_line() == f"tracker-app: error: {line}"
    assert run.peak_rss_mb < REFUSED_RSS_LIMIT_MB, f"{run.peak_rss_mb:.0f} MB"
    assert not (tmp_path / "out").exists() and not (tmp_path / "o").exists()


def test_good_vmc_targets_still_parse() -> None:
    base = VmcTarget("127.0.0.1", 39539)
    assert VmcTarget.parse("", base) == base
    assert VmcTarget.parse("host", base) == VmcTarget("host", 39539)
    assert VmcTarget.parse(":9000", base) == VmcTarget("127.0.0.1", 9000)
    assert VmcTarget.parse("[::1]:9000", base) == VmcTarget("::1", 9000)
    with pytest.raises(VmcTargetError, match="no port after ':'"):
        VmcTarget.parse("[::1]:", base)


def test_an_unreachable_frame_list_is_not_echoed_whole(media_dir: Path, tmp_path: Path) -> None:
    frames = ",".join(str(i) for i in range(2, 12_000, 2))  # 30 KB of frame numbers past a 1-frame source
    assert len(frames) > 25_000
    run = run_cli("track", media_dir / "JianzhuGuo.jpg", "--out", tmp_path / "o", "--no-progress",
                  "--frames", frames)
    assert run.returncode == 0, run
    line = run.error_line()
    assert line == ("tracker-app: note: --frames 2,4,6,8,10,12,14,16,18,20,22,24,26,28,30,32,34,36,38,40,"
                    "4...: past the end (1 frame read, 0-based); nothing written for them")


def test_gui_names_what_its_video_path_is(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    for path, what in ((Path("/dev/zero"), "is a device, not a file"), (fifo, "is a FIFO (named pipe), not a file"),
                       (tmp_path / "gone.mp4", "no such file")):
        run = run_cli("gui", "--video", path, env={"QT_QPA_PLATFORM": "offscreen"})
        assert run.returncode == 1 and run.error_line() == f"tracker-app: error: {path}: {what}"
        assert run.peak_rss_mb < REFUSED_RSS_LIMIT_MB
