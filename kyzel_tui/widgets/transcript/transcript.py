"""The transcript: the path from the root to the head, newest at the bottom."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widgets import Static

from core.tree import SessionTree
from kyzel_tui.widgets.transcript.event_view import EventView
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

    def show(self, tree: SessionTree | None, pending: str | None = None) -> None:
        """Show the path to the head (the last `shown` events of it)."""
        self.remove_children()
        self.stream_view = self.live_result = None
        if tree is None or tree.head is None:
            self.mount(
                Static("Type a message below to start. F1 lists every key.", classes="earlier")
            )
            return
        path = tree.path()
        if len(path) > self.shown:
            hidden = len(path) - self.shown
            self.mount(
                Static(f"… {hidden} earlier events: ctrl+home shows more", classes="earlier")
            )
            path = path[-self.shown :]
        views = [self._view(tree, event) for event in path]
        self.mount_all([v for v in views if v is not None])
        if pending is not None:
            for view in self.query(TurnView):
                view.set_class(view.event_id == pending, "pending")
        self.scroll_end(animate=False)

    def _view(self, tree: SessionTree, event) -> EventView | None:
        if event.kind == "user":
            return UserView(event)
        if event.kind == "turn":
            return TurnView(event, tree.sibling_position(event.id), turn_notes(tree, event.id))
        if event.kind == "result":
            return ResultView(event.id, event.body)
        if event.kind == "kernel":
            return KernelView(event)
        return None

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
