"""The base of every event in the transcript: focusable, so that keys can act on it."""

from __future__ import annotations

from textual.widgets import Static


class EventView(Static, can_focus=True):
    """One event on the path; focus it to rate it, roll back to it or switch its siblings."""

    DEFAULT_CSS = """
    EventView {
        padding: 0 1;
        margin: 0 0 1 0;
    }
    EventView:focus {
        background: $boost;
        border-left: thick $accent;
    }
    """

    def __init__(self, event_id: str, **kwargs):
        super().__init__(**kwargs)
        self.event_id = event_id
