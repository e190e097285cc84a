"""Hostile config files: each is built here, fed to the real command line, and must end in
one line on stderr, exit code 1, no traceback and a small peak memory (issue 21)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from engine.brief import brief
from engine.config import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, ConfigError, EngineConfig
from tests.support.hostile import report_runs, run_cli  # noqa: F401 (report_runs: a fixture)

# A failing config is read before any model: the interpreter with NumPy and PyYAML is 35 MB.
CONFIG_RSS_LIMIT_MB = 80


def _laughs(levels: int, fan: int = 9) -> str:
    """A "billion laughs" document: each anchor repeats the one before ``fan`` times."""
    lines = ["l0: &l0 [" + ", ".join(['"lol"'] * fan) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * fan) + "]" for i in range(1, levels)]
    lines.append(f"tracker:\n  max_faces: *l{levels - 1}")
    return "\n".join(lines) + "\n"


HOSTILE = {
    # 50,000 levels: SIGSEGV inside libyaml's composer with PyYAML 6.0.3 before.
    "nested_lists": ("[" * 50_000, f"nests more than {MAX_CONFIG_DEPTH} levels deep (line 1)"),
    "nested_maps": ("{a: " * 50_000, f"nests more than {MAX_CONFIG_DEPTH} levels deep (line 1)"),
    # Block nesting needs no brackets: 40 indented levels.
    "nested_blocks": ("".join(" " * i + "a:\n" for i in range(40)), "nests more than 32 levels deep (line 33)"),
    # 9^10 values in 400 bytes: 40 s and 3.3 GB in repr() before.
    "laughs": (_laughs(10), "stands for more than 100000 values (anchors and aliases expanded)"),
    "huge_integer": ("tracker:\n  max_faces: " + "9" * 5000 + "\n", "holds a value that cannot be read: Exceeds"),
    "bad_date": ("tracker:\n  max_faces: 2001-13-45\n", "holds a value that cannot be read: month must be in 1..12"),
    # 50 MB cost 1.6 GB and 22 s before; a comment is enough to be big.
    "too_big": ("a: 1\n" + "#" * (2 * MAX_CONFIG_BYTES), f"is larger than {MAX_CONFIG_BYTES // 1024} KiB"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_config_is_one_line(name: str, tmp_path: Path) -> None:
    text, expected = HOSTILE[name]
    config = tmp_path / f"{name}.yaml"
    config.write_text(text)
    run = run_cli("--config", config, "detect", tmp_path / "none.jpg")
    assert run.returncode == 1
    line = run.error_line()
    assert line.startswith(f"tracker-app: error: config {config} ") and expected in line, line
    assert run.peak_rss_mb < CONFIG_RSS_LIMIT_MB, f"{run.peak_rss_mb:.0f} MB"


def test_the_same_hostile_configs_fail_in_the_pure_python_loader(tmp_path: Path, monkeypatch) -> None:
    """The bound does not depend on libyaml: without it the pure-Python loader gives the same errors."""
    import yaml

    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    for name in ("nested_lists", "nested_maps", "laughs"):
        text, expected = HOSTILE[name]
        config = tmp_path / f"{name}.yaml"
        config.write_text(text)
        with pytest.raises(ConfigError, match=expected.split(" (")[0]):
            EngineConfig.load(config)


def test_anchors_within_the_bounds_still_work(tmp_path: Path) -> None:
    config = tmp_path / "anchors.yaml"
    config.write_text("detector: &d\n  min_score: 0.6\nsmoother:\n  n_pre: 2\n")
    assert EngineConfig.load(config).detector.min_score == pytest.approx(0.6)
    nested = tmp_path / "nested.yaml"  # nesting under the limit reaches the type check
    nested.write_text("tracker:\n  max_faces: " + "[" * 20 + "]" * 20 + "\n")
    with pytest.raises(ConfigError, match=r"'tracker.max_faces' must be an integer, got \[\[\[\[\[\[\["):
        EngineConfig.load(nested)


def test_a_refused_value_is_shown_briefly_whatever_its_size() -> None:
    laughs: list = ["lol"]
    for _ in range(40):  # 10^40 values once expanded
        laughs = [laughs] * 10
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    t = time.process_time()
    assert brief(laughs) == "[" * 37 + "..."
    assert brief(deep, 10) == "[[[[[[[..."
    assert brief(10 ** 5000) == "<16610-bit integer>"
    assert brief({"a": (1,), "b": b"x" * 100}, 30) == "{'a': (1,), 'b': b'xxxxxxxx..."
    assert time.process_time() - t < 2.0  # CPU time; repr() of either would not finish in minutes


def test_a_config_that_is_a_fifo_or_a_device_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)  # opening it would wait for a writer for ever
    for path, what in ((fifo, "is a FIFO (named pipe), not a file"), (Path("/dev/zero"), "is a device, not a file"),
                       (tmp_path, "is a folder, not a file")):
        run = run_cli("--config", path, "detect", tmp_path / "none.jpg", timeout=60)
        assert run.returncode == 1 and run.error_line() == f"tracker-app: error: cannot read config {path}: {what}"
        assert run.peak_rss_mb < CONFIG_RSS_LIMIT_MB
