"""The session browser: every session in the store, searchable; open, start, rename or delete one.

The screen knows the store and nothing of the session being worked on beyond its id: it dismisses
with the id to open, "new" for a new session, or None to go back, and the caller does the rest.
Titles and model names are data, shown through `one_line` as plain `Text`, never as markup.
"""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, Static

from core.store.database import SessionInfo, Store, StoreError
from core.store.writer import StoreWriter
from core.text import one_line
from kyzel_tui.screens.confirm import ConfirmScreen, PromptScreen

NEW_SESSION = "new"
"""What the screen dismisses with when the user asks for a new session."""
SEARCH_DELAY = 0.15
"""Seconds of quiet in the search box before the list is filtered (one query per pause)."""
SHORT_ID = 12
"""Characters of a session id shown: the time part and two more, enough to be unique in practice
and to give `kyzel-tui export ID` a prefix it resolves."""
EMPTY_STORE = (
    "No sessions yet.\n\n"
    "Press escape and type a message to start one (or press n here), "
    "or bring old ones in with `kyzel-tui import FILE`."
)


def when(timestamp: float) -> str:
    """A time as the user's clock shows it."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def title_text(info: SessionInfo, width: int = 60) -> Text:
    title = one_line(info.title, width)
    return Text(title) if title else Text("(untitled)", style="dim italic")


class SessionsScreen(Screen[str | None]):
    """The sessions of `store`, newest first, `current` marked; dismisses with the choice."""

    CSS_PATH = "sessions.tcss"

    BINDINGS = [
        Binding(
            "enter",
            "open",
            "Open",
            tooltip="Open the highlighted session",
            id="sessions.open",
            priority=True,
        ),
        Binding("n", "new", "New", tooltip="Start a new session", id="sessions.new"),
        Binding(
            "r", "rename", "Rename", tooltip="Rename the highlighted session", id="sessions.rename"
        ),
        Binding(
            "d,delete",
            "delete",
            "Delete",
            tooltip="Delete the highlighted session for good",
            id="sessions.delete",
        ),
        Binding(
            "slash",
            "search",
            "Search",
            tooltip="Search titles and event text",
            id="sessions.search",
        ),
        Binding(
            "escape", "back", "Back", tooltip="Back to the session you were in", id="sessions.back"
        ),
    ]

    def __init__(
        self, store: Store, current: str | None = None, writer: StoreWriter | None = None
    ) -> None:
        super().__init__()
        self.store = store
        self.writer = writer
        """Where renames and deletions are committed, off the event loop (None: here)."""
        self.current = current
        self.current_deleted = False
        """The user deleted the session they had open: going back means starting a new one."""
        self._sessions: dict[str, SessionInfo] = {}
        self._search_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("Sessions"), id="heading")
        yield Input(placeholder="/ search titles and text", id="search")
        yield Static(id="empty")
        yield DataTable(cursor_type="row", zebra_stripes=True, id="sessions")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column(" ", key="mark", width=1)
        table.add_column("title", key="title")
        table.add_column("updated", key="updated", width=16)
        table.add_column(Text("events", justify="right"), key="events", width=6)
        table.add_column("model", key="model")
        table.add_column("id", key="id", width=SHORT_ID)
        self.refresh_sessions(select=self.current)
        table.focus()

    @property
    def search_text(self) -> str:
        return self.query_one("#search", Input).value.strip()

    @property
    def highlighted(self) -> SessionInfo | None:
        """The session under the cursor, if any."""
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self._sessions.get(key)

    def refresh_sessions(self, select: str | None = None) -> None:
        """Reload the list from the store, keeping the cursor on `select` (or where it was)."""
        self._cancel_search_timer()
        table = self.query_one(DataTable)
        row = table.cursor_row
        if select is None and (info := self.highlighted):
            select = info.id
        search = self.search_text
        try:
            sessions = self.store.sessions(search=search or None)
        except StoreError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        table.clear()
        self._sessions = {info.id: info for info in sessions}
        for info in sessions:
            table.add_row(*self._cells(info), key=info.id)
        self._show_empty(search, bool(sessions))
        ids = list(self._sessions)
        # The same session if it is still listed, else the row that took its place (after a delete).
        table.move_cursor(row=ids.index(select) if select in ids else min(row, len(ids) - 1))

    def _cells(self, info: SessionInfo) -> tuple[Text, ...]:
        is_current = info.id == self.current
        title = title_text(info)
        if is_current:
            title.stylize("bold")
        return (
            Text("●", style="bold") if is_current else Text(""),
            title,
            Text(when(info.updated)),
            Text(str(info.events), justify="right"),
            Text(one_line(info.model, 40), style="dim"),
            Text(info.id[:SHORT_ID], style="dim"),
        )

    def _show_empty(self, search: str, any_sessions: bool) -> None:
        empty = self.query_one("#empty", Static)
        empty.display = not any_sessions
        if search:
            empty.update(Text(f"No session matches “{one_line(search, 60)}”."))
        else:
            empty.update(Text(EMPTY_STORE))

    def _cancel_search_timer(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_timer = None

    def on_input_changed(self, event: Input.Changed) -> None:
        # Debounced: a query per pause in typing, not per key, so a big store keeps up.
        self._cancel_search_timer()
        self._search_timer = self.set_timer(SEARCH_DELAY, self.refresh_sessions)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # A click on a row (enter is the screen's own binding).
        self.dismiss(str(event.row_key.value))

    def action_open(self) -> None:
        if self._search_timer is not None:
            self.refresh_sessions()  # enter right after typing opens what the search finds
        if (info := self.highlighted) is not None:
            self.dismiss(info.id)

    def action_new(self) -> None:
        self.dismiss(NEW_SESSION)

    def action_back(self) -> None:
        self.dismiss(NEW_SESSION if self.current_deleted else None)

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    @work(group="dialog")
    async def action_rename(self) -> None:
        info = self.highlighted
        if info is None:
            return
        title = await self.app.push_screen_wait(PromptScreen("New title:", info.title))
        if title is not None:
            await self.write("rename", (info.id, title))
            self.show_written(select=info.id)

    @work(group="dialog")
    async def action_delete(self) -> None:
        info = self.highlighted
        if info is None:
            return
        events = "event" if info.events == 1 else "events"
        question = f"Delete “{one_line(info.title, 60) or info.id}” and its {info.events} {events}"
        if info.id == self.current:
            question = (
                f"This is the session you have open. {question} for good? You will start a new one."
            )
        else:
            question += " for good?"
        if not await self.app.push_screen_wait(ConfirmScreen(question)):
            return
        if await self.write("delete_session", (info.id,)):
            if info.id == self.current:
                self.current, self.current_deleted = None, True
            self.notify(f"Deleted “{one_line(info.title, 40) or info.id}”.", markup=False)
        self.show_written()

    async def write(self, method: str, args: tuple[Any, ...]) -> bool:
        """Commit `store.method(*args)` through the writer (queued behind the app's writes; the
        screen stays live while it waits for a lock); whether it was committed (if not, the
        notice says why)."""
        try:
            if self.writer is None:
                getattr(self.store, method)(*args)
            else:
                await self.writer.call(
                    getattr(self.writer.store, method), *args, on_slow=self._waiting
                )
        except StoreError as error:
            self.notify(str(error), severity="error", markup=False)
            return False
        return True

    def show_written(self, select: str | None = None) -> None:
        if self.is_attached:
            self.refresh_sessions(select=select)

    def _waiting(self, waiting: bool) -> None:
        if waiting and self.writer is not None:
            from kyzel_tui.screens.main_writes import waiting_notice

            self.notify(waiting_notice(self.writer.store.path), markup=False)
