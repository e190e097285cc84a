"""Closing the window: what must stop, in which order, before the widgets go.

Owns the order of the app's shutdown: the open message boxes close, the capture thread
stops (it may be mid-frame, and its signals reach widgets), then mesh exports still
running in the global thread pool finish their files.
"""
from __future__ import annotations

from PyQt6.QtCore import QThreadPool
from PyQt6.QtWidgets import QMessageBox

from tracker_app.capture_worker import CaptureController

EXPORT_WAIT_MS = 10_000


def shut_down(dialogs: list[QMessageBox], controller: CaptureController) -> None:
    """Close ``dialogs``, stop ``controller``'s thread, wait for the export jobs; each wait is bounded."""
    for box in list(dialogs):
        box.close()
    if not controller.stop():
        # Should not happen (a camera read blocks at most its timeout); say so rather than hang.
        print("tracker-app: the capture thread did not stop in time", flush=True)
    # Mesh exports run in the global pool: let them finish their files first.
    pool = QThreadPool.globalInstance()
    if pool is not None:
        pool.waitForDone(EXPORT_WAIT_MS)
