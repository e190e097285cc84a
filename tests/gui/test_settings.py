"""Settings: defaults from configs/, kept in QSettings, applied to a running window."""
from __future__ import annotations

import dataclasses

import pytest
from PyQt6.QtCore import QSettings

from engine.config import EngineConfig
from tests.support.gui import close_window, make_window, wait_until
from tracker_app.settings import AppSettings, GuiConfig, OverlayOptions, SettingsStore
from tracker_app.settings_dialog import SettingsDialog
from tracker_app.actions import Act
from tracker_app.capture_worker import CaptureWorker


def _store(tmp_path) -> SettingsStore:
    return SettingsStore(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


def test_defaults_come_from_the_config_files() -> None:
    engine, gui = EngineConfig.load(), GuiConfig.load()
    d = AppSettings.defaults(engine, gui)
    assert (d.n_pre, d.n_next) == (engine.smoother.n_pre, engine.smoother.n_next)
    assert d.min_score == engine.detector.min_score and d.max_faces == engine.tracker.max_faces
    assert 1 <= d.threads <= engine.runtime.effective_threads()
    assert d.smoother == gui.smoother and d.overlay == gui.overlay
    # Cameras without delay, files with the look-ahead window (configs/gui.yaml).
    assert (d.smoother_for(True), d.smoother_for(False)) == ("realtime", "lookahead")
    assert (d.live.stream_host, d.live.stream_port) == (engine.vmc.host, engine.vmc.port)
    assert d.live.mirror_for(True) and not d.live.mirror_for(False)
    applied = dataclasses.replace(d, threads=1, min_score=0.7, n_next=5).engine_config(engine)
    assert applied.runtime.intra_op_threads == 1 and applied.detector.min_score == 0.7
    assert applied.smoother.n_next == 5 and applied.regressor == engine.regressor


def test_store_round_trip_and_bad_values(tmp_path) -> None:
    defaults = AppSettings.defaults(EngineConfig.load(), GuiConfig.load())
    live = dataclasses.replace(defaults.live, stream_host="10.0.0.2", stream_port=40000, stream_follow=3,
                               camera_mirror=False, camera_width=640, camera_height=480, camera_fps=30.0,
                               calibration='{"range_scale": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]}')
    changed = dataclasses.replace(defaults, smoother="lookahead", n_pre=5, n_next=1, min_score=0.65,
                                  file_smoother="off", live=live,
                                  overlay=OverlayOptions(show_mesh=False, mesh_opacity=0.25, wireframe=True,
                                                         show_landmarks=False, show_axes=True))
    _store(tmp_path).save(changed)
    assert _store(tmp_path).load(defaults) == changed  # a new QSettings on the same file
    q = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    q.setValue("engine/n_pre", "many")
    q.setValue("engine/smoother", "kalman")
    q.sync()
    loaded = _store(tmp_path).load(defaults)
    assert loaded.n_pre == defaults.n_pre and loaded.smoother == defaults.smoother
    store = _store(tmp_path)
    for i in range(12):
        store.add_recent(f"/videos/{i}.mp4", limit=8)
    assert store.recent_files() == [f"/videos/{i}.mp4" for i in range(11, 3, -1)]


@pytest.mark.gui
def test_dialog_edits_and_restores_defaults(qtbot) -> None:
    defaults = AppSettings.defaults(EngineConfig.load(), GuiConfig.load())
    current = dataclasses.replace(defaults, smoother="off", file_smoother="realtime", threads=1)
    dialog = SettingsDialog(current, defaults)
    qtbot.addWidget(dialog)
    assert dialog.values() == current
    assert not dialog.n_next.isEnabled()  # only the look-ahead smoother has a window
    dialog.smoother.setCurrentIndex(dialog.smoother.findData("lookahead"))
    assert dialog.n_next.isEnabled()
    dialog.n_next.setValue(2)
    dialog.opacity.setValue(80)
    edited = dialog.values()
    assert edited.smoother == "lookahead" and edited.n_next == 2 and edited.overlay.mesh_opacity == 0.8
    dialog.load(defaults)
    assert dialog.values() == defaults


@pytest.mark.gui
def test_settings_apply_to_a_playing_window_and_persist(qapp, weights_dir, obama, tmp_path) -> None:
    window = make_window(tmp_path)
    try:
        window.open_source(str(obama))
        wait_until(lambda: window.model.frames_shown >= 2, "frames")
        new = dataclasses.replace(window.settings, smoother="lookahead", n_pre=2, n_next=2,
                                  overlay=dataclasses.replace(window.settings.overlay, wireframe=True))
        window.apply_settings(new)
        assert window.model.overlay.wireframe and window.commands[Act.WIREFRAME].isChecked()
        playback = window.controller.worker.playback
        # n_next frames of look-ahead, and the confirmation gate's frames (engine.confirmation)
        delay = 2 + window.engine_config.tracker.confirm_frames
        wait_until(lambda: playback.pipeline is not None and playback.pipeline.delay_frames == delay,
                   "the look-ahead pipeline")
        shown = window.model.frames_shown
        wait_until(lambda: window.model.frames_shown >= shown + 3, "frames after the change")
        assert not window.errors
        # Seek and step with a delaying smoother still land on the frame asked for.
        window.controller.submit(CaptureWorker.pause)
        window.controller.submit(CaptureWorker.seek, 30)
        wait_until(lambda: window.model.frame.result.index == 30, "seek to frame 30")
        window.controller.submit(CaptureWorker.step)
        wait_until(lambda: window.model.frame.result.index == 31, "step to frame 31")
        window.commands[Act.LANDMARKS].trigger()  # a View menu toggle is a setting too
        assert not window.model.overlay.show_landmarks
    finally:
        close_window(window)
    again = make_window(tmp_path)  # same settings file
    try:
        assert again.settings.smoother == "lookahead" and again.settings.n_next == 2
        assert again.model.overlay.wireframe and not again.model.overlay.show_landmarks
        assert again.store.recent_files()[0] == str(obama.resolve())
    finally:
        close_window(again)


def test_stored_settings_are_checked_like_the_yaml_files(tmp_path) -> None:
    defaults = AppSettings.defaults(EngineConfig.load(), GuiConfig.load())
    q = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    q.setValue("overlay/wireframe", "yes")  # only true/false are switches, as in YAML
    q.setValue("engine/max_faces", "-3")  # below the range of tracker.max_faces
    q.setValue("engine/threads", "2.5")  # a count must be a whole number
    q.setValue("live/stream_port", "70000")  # the range of vmc.port
    q.setValue("engine/n_next", "5")  # a good value is taken
    q.sync()
    problems: list[str] = []
    loaded = _store(tmp_path).load(defaults, report=problems.append)
    assert loaded.overlay.wireframe == defaults.overlay.wireframe and loaded.max_faces == defaults.max_faces
    assert loaded.threads == defaults.threads and loaded.live.stream_port == defaults.live.stream_port
    assert loaded.n_next == 5
    assert len(problems) == 4 and all("\n" not in p for p in problems)
    assert any(p.startswith("stored setting 'overlay/wireframe' must be true or false, got 'yes'") for p in problems)
    assert any(p.startswith("stored setting 'engine/max_faces' must be >= 0, got '-3'") for p in problems)
    assert any("'engine/threads' must be an integer" in p for p in problems)
    assert any("'live/stream_port' must be in 1..65535" in p for p in problems)


def test_the_app_and_the_command_line_reach_the_engine_by_one_path() -> None:
    from engine.config import ConfigError, EngineChoices

    engine, gui = EngineConfig.load(), GuiConfig.load()
    settings = dataclasses.replace(AppSettings.defaults(engine, gui), max_faces=3, detect_every=0)
    assert settings.engine_config(engine) == engine.with_choices(
        EngineChoices(threads=settings.threads, allow_spinning=False, min_score=settings.min_score, max_faces=3,
                      detect_every=0, n_pre=settings.n_pre, n_next=settings.n_next), source="test")
    with pytest.raises(ConfigError, match=r"^config the command line: 'tracker.max_faces' must be >= 0, got -1$"):
        engine.with_choices(EngineChoices(max_faces=-1), source="the command line")
