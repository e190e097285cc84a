"""Where a source is chosen: the toolbar's picker and the first page, in step with the source open.

Owns the window's centre (the empty state while no source is open, the video otherwise),
the toolbar's ``SourcePicker`` and the ``EmptyState`` page, both filled with the same
``source_offers`` whenever the source changes, and what a choice does: a camera or a
recent file opens, Browse and Folder ask first.
"""
from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtWidgets import QStackedWidget, QWidget

from tracker_app.empty_state import EmptyState
from tracker_app.settings import SettingsStore
from tracker_app.source_picker import ChoiceKind, SourceChoice, SourcePicker, source_offers
from tracker_app.viewer_model import SourceInfo


class SourceChoices:
    """The picker, the empty state and the centre that shows it or ``view``.

    ``open_source`` opens a camera index or a path; ``browse`` and ``browse_folder`` ask for
    a file or a folder first (the window's dialogs).
    """

    def __init__(self, view: QWidget, cameras: list[tuple[int, str]], store: SettingsStore,
                 open_source: Callable[[int | str], None], browse: Callable[[], object],
                 browse_folder: Callable[[], object]) -> None:
        self.view, self.cameras, self.store = view, cameras, store
        self._open_source, self._browse, self._browse_folder = open_source, browse, browse_folder
        self.empty_state = EmptyState()
        self.empty_state.chosen.connect(self.open)
        self.centre = QStackedWidget()
        self.centre.addWidget(self.empty_state)
        self.centre.addWidget(view)
        self.picker = SourcePicker()
        self.picker.chosen.connect(self.open)

    def open(self, choice: SourceChoice) -> None:
        """What the source picker or the empty state offered."""
        if choice.kind is ChoiceKind.BROWSE:
            self._browse()
        elif choice.kind is ChoiceKind.FOLDER:
            self._browse_folder()
        elif choice.value is not None:
            self._open_source(choice.value)

    def show(self, source: SourceInfo | None) -> None:
        """``source`` (None: no source) in the picker; the offers again (the recent files may
        have changed); the first page while there is no source."""
        offers = source_offers(self.cameras, self.store.recent_files())
        self.picker.fill(source, offers)
        if source is None:
            self.empty_state.fill(offers)
        self.show_video(source is not None)

    def show_video(self, video: bool) -> None:
        """The video in the centre, or the first page (a source that failed to open: it again)."""
        self.centre.setCurrentWidget(self.view if video else self.empty_state)
