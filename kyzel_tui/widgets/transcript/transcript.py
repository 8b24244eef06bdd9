"""The transcript: the path from the root to the head, newest at the bottom."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widgets import Static

from core.tree import SessionTree
from kyzel_tui.widgets.transcript.event_view import EventView
from kyzel_tui.widgets.transcript.image_view import ImageView, pictures_of
from kyzel_tui.widgets.transcript.kernel_view import KernelView
from kyzel_tui.widgets.transcript.result_view import ResultView
from kyzel_tui.widgets.transcript.stream_view import StreamView
from kyzel_tui.widgets.transcript.turn_view import TurnView
from kyzel_tui.widgets.transcript.user_view import UserView

WINDOW = 100
"""Events shown at once; older ones appear on request, so a long session opens at once (each
shown event costs a few milliseconds of layout: bench/tui.py times a 10,000-event session)."""


def turn_notes(tree: SessionTree, turn_id: str) -> list[str]:
    notes = []
    body = tree.node(turn_id).body
    if body.origin != "generated":
        notes.append(body.origin)
    if "unadmitted" in body.meta:  # core.admission: the grammar refuses it; never trained on
        notes.append(f"unadmitted: {body.meta['unadmitted']}")
    if body.meta.get("status") == "stopped":
        notes.append("stopped")
    if body.meta.get("cut"):  # the budget ran out on a server: kyzel-tui closed the turn
        notes.append("cut at the token budget")
    decision = tree.decision(turn_id)
    if decision is not None:
        notes.append("ran" if decision.value == "accepted" else "skipped")
        if decision.reason:
            notes.append(f"because: {decision.reason}")
    rating = tree.rating(turn_id)
    if rating:
        notes.append("rated +" if rating == "up" else "rated -")
    return notes


class Transcript(VerticalScroll):
    DEFAULT_CSS = """
    Transcript { height: 1fr; padding: 0 1; }
    Transcript > .earlier { color: $text-muted; text-style: italic; }
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.shown = WINDOW
        self.stream_view: StreamView | None = None
        self.live_result: ResultView | None = None
        self._ids: list[str] = []
        """The events on screen, in path order."""
        self._start = 0
        """Where on the path they start (the events before it are not shown)."""

    def show(self, tree: SessionTree | None, pending: str | None = None) -> None:
        """Show the path to the head (its last `shown` events, or more since opening)."""
        path = tree.path() if tree is not None and tree.head is not None else []
        ids = [e.id for e in path[self._start : self._start + len(self._ids)]]
        if self._ids and ids == self._ids and len(path) >= self._start + len(self._ids):
            self._extend(tree, path)  # the common case: new events at the end of the path
        else:
            self._rebuild(tree, path)
        for view in self.query(TurnView):
            view.set_class(view.event_id == pending, "pending")
        self.scroll_end(animate=False)

    def show_more(self, count: int) -> None:
        """Show `count` more earlier events at the next `show`."""
        self.shown = len(self._ids) + count
        self._ids = []

    def _drop_transient(self) -> None:
        for view in (self.stream_view, self.live_result):
            if view is not None:
                view.remove()
        self.stream_view = self.live_result = None

    def _rebuild(self, tree: SessionTree | None, path: list) -> None:
        self.remove_children()
        self.stream_view = self.live_result = None
        self._ids, self._start = [], 0
        if not path:
            self.mount(
                Static("Type a message below to start. F1 lists every key.", classes="earlier")
            )
            return
        self._start = max(0, len(path) - self.shown)
        if self._start:
            self.mount(
                Static(f"… {self._start} earlier events: ctrl+home shows more", classes="earlier")
            )
        self._mount_views(tree, path[self._start :])

    def _extend(self, tree: SessionTree, path: list) -> None:
        self._drop_transient()
        for view in self.query(TurnView):  # a verdict or a rating may have changed its header
            notes = turn_notes(tree, view.event_id)
            position = tree.sibling_position(view.event_id)
            if (notes, position) != (view.notes, view.position):
                view.notes, view.position = notes, position
                view.refresh(layout=True)
        self._mount_views(tree, path[self._start + len(self._ids) :])

    def _mount_views(self, tree: SessionTree, events: list) -> None:
        views = [v for event in events for v in self._views(tree, event)]
        self._ids += [event.id for event in events]
        if views:
            self.mount_all(views)

    def _views(self, tree: SessionTree, event) -> list[EventView]:
        if event.kind == "user":
            return [UserView(event)]
        if event.kind == "turn":
            return [TurnView(event, tree.sibling_position(event.id), turn_notes(tree, event.id))]
        if event.kind == "result":
            pictures = [ImageView(event.id, event.body)] if pictures_of(event.body) else []
            return [ResultView(event.id, event.body), *pictures]
        if event.kind == "kernel":
            return [KernelView(event)]
        return []

    def update_notes(self, tree: SessionTree, turn_id: str) -> None:
        """Redraw one turn's header notes (a new rating) without redrawing the transcript."""
        for view in self.query(TurnView):
            if view.event_id == turn_id:
                view.notes = turn_notes(tree, turn_id)
                view.refresh(layout=True)

    def begin_stream(self, prefix: str = "") -> None:
        self.end_stream()
        self.stream_view = StreamView(prefix)
        self.mount(self.stream_view)
        self.scroll_end(animate=False)

    def stream(self, text: str) -> None:
        if self.stream_view is not None:
            self.stream_view.add(text)
            self.scroll_end(animate=False)

    def end_stream(self) -> None:
        if self.stream_view is not None:
            self.stream_view.remove()
            self.stream_view = None

    def begin_result(self) -> ResultView:
        self.live_result = ResultView("")
        self.mount(self.live_result)
        self.scroll_end(animate=False)
        return self.live_result

    def selected(self) -> EventView | None:
        focused = self.app.focused
        return focused if isinstance(focused, EventView) else None
