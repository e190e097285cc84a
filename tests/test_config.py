"""Configuration loading: defaults from configs/, overrides, clear errors."""
from __future__ import annotations

import os

import pytest

from engine.config import ConfigError, EngineConfig


def test_defaults_come_from_the_yaml_file() -> None:
    config = EngineConfig.load()
    assert config.runtime.intra_op_threads == 4 and config.runtime.allow_spinning is False
    assert config.detector.nms_iou == pytest.approx(0.3) and config.detector.max_height == 720
    assert 1 <= config.runtime.effective_threads() <= len(os.sched_getaffinity(0))


def test_override_file_changes_only_its_keys(tmp_path) -> None:
    override = tmp_path / "mine.yaml"
    override.write_text("runtime:\n  intra_op_threads: 1\n  allow_spinning: true\ndetector:\n  min_score: 0.7\n")
    config = EngineConfig.load(override)
    assert config.runtime.intra_op_threads == 1 and config.runtime.allow_spinning is True
    assert config.runtime.pipelined is True  # not in the override: the default file's value
    assert config.detector.min_score == pytest.approx(0.7) and config.detector.nms_iou == pytest.approx(0.3)
    assert config.with_threads(2).runtime.allow_spinning is True  # threads change keeps the rest


@pytest.mark.parametrize("text,message", [
    ("detector:\n  min_scor: 0.7\n", "unknown config key 'detector.min_scor'"),
    ("bogus: 1\n", "unknown config key 'bogus'"),
    ("detector: [1, 2]\n", "must be a mapping"),
    ("detector:\n  min_score: [\n", "not valid YAML"),
])
def test_bad_override_files_fail_in_one_line(tmp_path, text, message) -> None:
    override = tmp_path / "bad.yaml"
    override.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")) as info:
        EngineConfig.load(override)
    assert "\n" not in str(info.value)


def test_missing_override_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        EngineConfig.load(tmp_path / "nope.yaml")


def test_desktop_app_turns_off_thread_spinning() -> None:
    from tracker_app.settings import AppSettings, GuiConfig

    base = EngineConfig.load()
    engine = AppSettings.defaults(base, GuiConfig.load()).engine_config(base)
    assert engine.runtime.allow_spinning is False
    assert engine.runtime.intra_op_threads >= 1
