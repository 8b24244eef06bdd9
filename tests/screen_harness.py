"""A tiny host app that shows one screen and keeps what it dismissed with, and sessions with
fixed ids and times, for the session browser and branch view tests."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import App
from textual.screen import Screen

from core.events import Event, UserMessage
from core.store.database import SessionInfo, Store

UNSET = object()


class Host(App[None]):
    """Pushes one screen and keeps what it dismissed with."""

    def __init__(self, make_screen: Callable[[], Screen]) -> None:
        super().__init__()
        self.make_screen = make_screen
        self.dismissed: object = UNSET

    def on_mount(self) -> None:
        self.push_screen(self.make_screen(), self.keep)

    def keep(self, value: object) -> None:
        self.dismissed = value


def add_session(
    store: Store,
    session_id: str,
    title: str,
    updated: float,
    texts: tuple[str, ...] = ("hello",),
    model: str = "tiny",
) -> SessionInfo:
    """A linear session of user messages with fixed ids and times (titles are stored as given)."""
    events, parent = [], None
    for index, text in enumerate(texts):
        event_id = f"{session_id}E{index:03d}"
        events.append(Event(event_id, session_id, parent, UserMessage(text), updated - 60 + index))
        parent = event_id
    info = SessionInfo(session_id, title, updated - 3600, updated, model, parent, len(events))
    store.insert_session(info, events, {})
    return info
