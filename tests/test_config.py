"""Configuration loading: defaults from configs/, overrides, clear errors."""
from __future__ import annotations

import dataclasses

import pytest

from engine.config import DEFAULT_CONFIG_PATH, ConfigError, EngineConfig, read_yaml_mapping
from engine.cpus import usable_cpu_count


def test_defaults_come_from_the_yaml_file() -> None:
    config = EngineConfig.load()
    assert config.runtime.intra_op_threads == 4 and config.runtime.allow_spinning is False
    assert config.detector.nms_iou == pytest.approx(0.3) and config.detector.max_height == 720
    assert 1 <= config.runtime.effective_threads() <= usable_cpu_count()


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
    # Wrong types: each was a TypeError traceback or a silent coercion before.
    ("tracker:\n  max_faces: [1, 2]\n", "'tracker.max_faces' must be an integer, got [1, 2]"),
    ("detector:\n  min_score: null\n", "'detector.min_score' must be a number, got null"),
    ("weights_dir: 12\n", "'weights_dir' must be a path (a non-empty string), got 12"),
    ("runtime:\n  allow_spinning: \"false\"\n", "'runtime.allow_spinning' must be true or false, got 'false'"),
    ("runtime:\n  allow_spinning: 0\n", "'runtime.allow_spinning' must be true or false, got 0"),
    ("tracker:\n  max_faces: 2.9\n", "'tracker.max_faces' must be an integer, got 2.9"),
    ("tracker:\n  max_faces: true\n", "'tracker.max_faces' must be an integer, got True"),
    # Sections added with the live and batch work are ranged too.
    ("vmc:\n  port: 0\n", "'vmc.port' must be in 1..65535, got 0"),
    ("expressions:\n  mouth_open: 0\n", "'expressions.mouth_open' must be > 0, got 0"),
    ("batch:\n  threads_per_worker: 0\n", "'batch.threads_per_worker' must be in 1..256, got 0"),
    ("runtime:\n  intra_op_threads: \"4\"\n", "'runtime.intra_op_threads' must be an integer"),
    # Out of range: each silently gave "no faces found" before.
    ("detector:\n  max_height: -720\n", "'detector.max_height' must be in 32..16384, got -720"),
    ("regressor:\n  roi_scale: 0\n", "'regressor.roi_scale' must be in 0.5..4, got 0"),
    ("detector:\n  candidate_top_k: 0\n", "'detector.candidate_top_k' must be >= 1, got 0"),
    ("tracker:\n  min_roi_side: 1.0e+9\n", "'tracker.min_roi_side' must be in 1..1000, got 1000000000.0"),
    ("tracker:\n  min_roi_side: 1e9\n", "'tracker.min_roi_side' must be a number, got '1e9'"),  # YAML 1.1: a string
    ("detector:\n  min_score: .nan\n", "'detector.min_score' must be a finite number, got nan"),
    ("detector:\n  nms_iou: .inf\n", "'detector.nms_iou' must be a finite number, got inf"),
    ("tracker:\n  max_param_rms: -.inf\n", "'tracker.max_param_rms' must be a finite number"),
    ("detector:\n  nms_iou: 0\n", "'detector.nms_iou' must be > 0, got 0"),
    ("smoother:\n  n_next: -1\n", "'smoother.n_next' must be in 0..100, got -1"),
    ("input:\n  max_image_pixels: 0\n", "'input.max_image_pixels' must be in 1..178956970, got 0"),
    ("- 1\n- 2\n", "must be a mapping at the top level"),
    ("\xff\xfe: 1\n", "not UTF-8"),
])
def test_bad_override_files_fail_in_one_line(tmp_path, text, message) -> None:
    override = tmp_path / "bad.yaml"
    override.write_bytes(text.encode("latin-1") if "\xff" in text else text.encode())
    with pytest.raises(ConfigError) as info:
        EngineConfig.load(override)
    assert message in str(info.value)
    assert str(info.value).startswith(f"config {override}")  # names the file that holds the mistake
    assert "\n" not in str(info.value)


def test_a_float_setting_takes_an_integer_and_a_path_is_relative_to_the_working_directory(
        tmp_path, monkeypatch) -> None:
    override = tmp_path / "mine.yaml"
    override.write_text("detector:\n  min_score: 1\nweights_dir: elsewhere\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # not the repository root, nor the config file's folder
    config = EngineConfig.load(override)
    assert config.detector.min_score == 1.0 and isinstance(config.detector.min_score, float)
    assert config.weights_dir == work / "elsewhere"


def _yaml_keys(data: dict, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in data.items():
        keys |= _yaml_keys(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key}
    return keys


def _field_keys(cls: type, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for f in dataclasses.fields(cls):
        default = getattr(cls(), f.name)
        keys |= (_field_keys(type(default), f"{prefix}{f.name}.") if dataclasses.is_dataclass(default)
                 else {prefix + f.name})
    return keys


def test_dataclass_defaults_equal_the_shipped_yaml_files() -> None:
    """The YAML files are the source of truth; the dataclass defaults must not drift from them
    (gui.yaml's refresh_hz once did: 10 in the file, 15 in the dataclass)."""
    from tracker_app.settings import GUI_CONFIG_PATH, GuiConfig

    for cls, path in ((EngineConfig, DEFAULT_CONFIG_PATH), (GuiConfig, GUI_CONFIG_PATH)):
        assert _yaml_keys(read_yaml_mapping(path)) == _field_keys(cls), f"{path} and {cls.__name__} keys differ"
        assert cls.load() == cls(), f"{path} differs from the {cls.__name__} defaults"


@pytest.mark.parametrize("text,message", [
    ("overlay:\n  show_mesh: true\n  mesh_opacty: 0.5\n", "unknown config key 'overlay.mesh_opacty'"),
    ("overlay:\n  mesh_opacity: 1.5\n", "'overlay.mesh_opacity' must be in 0..1, got 1.5"),
    ("smoother: fast\n", "'smoother' must be one of lookahead, realtime, off, got 'fast'"),
    ("refresh_hz: 0\n", "'refresh_hz' must be > 0, got 0"),
    ("recent_files: [\n", "not valid YAML"),
    ("max_frames_in_flight: 1.5\n", "'max_frames_in_flight' must be an integer, got 1.5"),
])
def test_gui_config_goes_through_the_same_strict_loader(tmp_path, text, message) -> None:
    from tracker_app.settings import GuiConfig

    path = tmp_path / "gui.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        GuiConfig.load(path)
    assert message in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_field_without_a_declared_range_is_still_type_checked(tmp_path) -> None:
    from engine.config import load_config

    @dataclasses.dataclass(frozen=True)
    class Later:  # as a helper might add: no setting(...), just an annotation
        fps: float = 25.0
        label: str = "x"

    path = tmp_path / "later.yaml"
    path.write_text("fps: fast\n")
    with pytest.raises(ConfigError, match="'fps' must be a number, got 'fast'"):
        load_config(Later, [path])
    path.write_text("fps: 30\nlabel: y\n")
    assert load_config(Later, [path]) == Later(fps=30.0, label="y")


def test_missing_override_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        EngineConfig.load(tmp_path / "nope.yaml")


def test_desktop_app_turns_off_thread_spinning() -> None:
    from tracker_app.settings import AppSettings, GuiConfig

    base = EngineConfig.load()
    engine = AppSettings.defaults(base, GuiConfig.load()).engine_config(base)
    assert engine.runtime.allow_spinning is False
    assert engine.runtime.intra_op_threads >= 1


def test_a_config_file_cannot_run_code(tmp_path) -> None:
    """YAML tags that build Python objects are refused, in one line, and nothing runs."""
    marker = tmp_path / "ran"
    override = tmp_path / "hostile.yaml"
    override.write_text(f"runtime: !!python/object/apply:os.mkdir ['{marker}']\n")
    with pytest.raises(ConfigError) as info:
        EngineConfig.load(override)
    assert str(info.value).startswith(f"config {override} is not valid YAML (line 1)")
    assert "\n" not in str(info.value)
    assert not marker.exists()
    # The same document through PyYAML's unsafe loader does run code: the test can tell.
    import yaml

    yaml.load(override.read_text(), Loader=yaml.UnsafeLoader)  # noqa: S506
    assert marker.exists()
