"""The settings in force while the window is open, and their keeping.

Owns the one current ``AppSettings``: a change is saved to the store at once, its overlay
shown, and the capture worker told only when its part changed (engine choices, live
options), since re-applying those restarts work there. Overlay switches made in the window
(menus, keys) change the model first and are kept here from it.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

from tracker_app.settings import AppSettings, OverlayOptions, SettingsStore
from tracker_app.viewer_model import ViewerModel


class SettingsKeeper:
    """``settings`` now; ``apply`` a new set; ``keep_overlay`` follows the model's overlay."""

    def __init__(self, settings: AppSettings, store: SettingsStore, model: ViewerModel,
                 tell_worker: Callable[[AppSettings], None]) -> None:
        self.settings, self.store, self.model, self.tell_worker = settings, store, model, tell_worker

    def apply(self, new: AppSettings) -> None:
        worker_changed = new.engine_part() != self.settings.engine_part() or new.live != self.settings.live
        self.settings = new
        self.store.save(new)
        self.model.set_overlay(new.overlay)
        if worker_changed:
            self.tell_worker(new)

    def keep_overlay(self, overlay: OverlayOptions) -> None:
        if overlay != self.settings.overlay:
            self.settings = dataclasses.replace(self.settings, overlay=overlay)
            self.store.save(self.settings)
