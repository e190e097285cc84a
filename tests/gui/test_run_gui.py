"""run_gui, the entry point of `tracker-app` / `tracker-app gui --video FILE`."""
from __future__ import annotations

import pytest
from PyQt6.QtCore import QSettings, QTimer
from PyQt6.QtWidgets import QApplication

from tracker_app.gui_main import run_gui
from tracker_app.main_window import MainWindow

pytestmark = pytest.mark.gui


def test_run_gui_opens_straight_on_a_video(qapp, weights_dir, obama, tmp_path) -> None:
    # The default QSettings of the app land in tmp_path, not in the user's config folder.
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path))
    seen: dict = {}

    def check() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if windows and windows[0].model.frames_shown >= 3:
            w = windows[0]
            seen.update(source=w.model.source.path, faces=w.model.frame.n_faces, threads=w.settings.threads)
            w.close()  # the last window: exec() returns
        else:
            QTimer.singleShot(20, check)

    QTimer.singleShot(20, check)
    assert run_gui(video=obama, threads=1) == 0
    assert seen == {"source": obama, "faces": 1, "threads": 1}
    assert (tmp_path / "tracker-app" / "tracker-app.conf").is_file()  # recent files were kept
