"""The main screen's keys that judge, edit, rate and move: mixed into `MainScreen`, whose
agent, transcript and guards they use. Modal flows are workers that await their dialog.

Editing and judging act on the head turn (the one the waiting bar names) and respect the
screen's guard (`too_soon`); moving acts on the selection. Every write is queued on the screen's
writer (`commit`) when the key is pressed, and its effect shows once it is committed (a worker
awaits it). What a key acts on and where its turn grows is the agent's to say.
"""

from __future__ import annotations

import concurrent.futures
import time

from textual import work

from core.store.writer import FAILED
from grammars.turn import TurnFields, render
from kyzel_tui.keys import help_rows
from kyzel_tui.widgets.transcript.event_view import EventView
from kyzel_tui.widgets.transcript.result_view import ResultView


class EditingActions:
    """Skip, edit (in the app or in $EDITOR), edit the thought, rate."""

    @work(group="dialog")
    async def action_reject(self) -> None:
        from kyzel_tui.screens.reason import ReasonScreen

        pending = self.agent.pending()
        if pending is None or self.too_soon():
            return
        reason = await self.app.push_screen_wait(ReasonScreen())
        if reason is not None:
            if await self.committed(self.commit(self.agent.reject, pending.id, reason)) is FAILED:
                return
            self.refresh_view()
            self.generate()

    def _fields(self, event) -> TurnFields:
        body = event.body
        return TurnFields(body.thought, code=body.code, answer=body.answer)

    @work(group="dialog")
    async def action_edit(self) -> None:
        from kyzel_tui.screens.edit import EditTurnScreen

        target = self.agent.edit_target()
        if target is None or self.too_soon():
            return
        fields = await self.app.push_screen_wait(EditTurnScreen(self._fields(target)))
        if fields is not None:
            edit = (target.id, fields.thought, fields.code, fields.answer)
            if await self.committed(self.commit(self.agent.edit, *edit)) is not FAILED:
                self.refresh_view()

    @work(group="dialog")
    async def action_edit_thought(self) -> None:
        from kyzel_tui.screens.edit import EditTurnScreen

        pending = self.agent.pending()
        if pending is None or self.too_soon():
            return
        screen = EditTurnScreen(self._fields(pending), thought_only=True)
        fields = await self.app.push_screen_wait(screen)
        if fields is not None:
            parent, prefix, source = self.agent.rethink(pending.id, fields.thought)
            self.generate(parent=parent, prefix=prefix, source=source)

    def action_edit_in_editor(self) -> None:
        from kyzel_tui.external_editor import edit_in_editor

        target = self.agent.edit_target()
        if target is None or self.too_soon():
            return
        try:
            fields = edit_in_editor(self.app, render(self._fields(target)))
        except ValueError as error:
            self.notify_error(error)
            return
        if fields is not None:
            edit = (target.id, fields.thought, fields.code, fields.answer)
            self.show_when_committed(self.commit(self.agent.edit, *edit))

    @work(group="store")
    async def show_when_committed(self, future: concurrent.futures.Future) -> None:
        """Redraw the transcript once a write that changed the path is committed."""
        if await self.committed(future) not in (FAILED, None):
            self.refresh_view()

    def selected_turn(self):
        view = self.transcript.selected()
        if view is not None and self.agent.tree.node(view.event_id).kind == "turn":
            return self.agent.tree.node(view.event_id)
        turns = (
            [e for e in self.agent.tree.path() if e.kind == "turn"] if self.agent.tree.head else []
        )
        return turns[-1] if turns else None

    def action_rate(self, value: str) -> None:
        turn = self.selected_turn()
        if turn is not None:  # a rating changes nothing the other keys act on: they go on
            self.rated(turn.id, self.commit(self.agent.rate, turn.id, value, moves=False))

    @work(group="store")
    async def rated(self, turn_id: str, future: concurrent.futures.Future) -> None:
        if await self.committed(future) is not FAILED:
            # In place: redrawing the transcript would lose the selection (the next key would
            # rate another turn), cost a long session a second, and drop a streaming turn.
            self.transcript.update_notes(self.agent.tree, turn_id)


class MovingActions:
    """Select, switch siblings, roll back (and replay), expand, and the other screens."""

    def action_select(self, step: int) -> None:
        """Move the selection to the event above or below (the last one if none is selected)."""
        views = [v for v in self.transcript.query(EventView) if v.display]
        if not views:
            return
        selected = self.transcript.selected()
        index = views.index(selected) + step if selected in views else len(views) - 1
        view = views[max(0, min(len(views) - 1, index))]
        view.focus()
        view.scroll_visible(animate=False)

    def action_sibling(self, step: int) -> None:
        view = self.transcript.selected()
        head = self.agent.pending() or self.agent.stopped()
        target = view.event_id if view is not None else (head.id if head else None)
        if target is not None and self.activity not in ("generating", "running"):
            self.show_when_committed(self.commit(self.agent.switch, target, step))

    @work(group="dialog")
    async def action_rollback(self) -> None:
        from core.kernel.replay import cells_to_replay, skipped_cells
        from kyzel_tui.screens.rollback import RollbackScreen

        view = self.transcript.selected()
        if view is None or self.activity in ("generating", "running"):
            self.notify("Select an event in the transcript first (up/down, or the mouse).")
            return
        path = self.agent.tree.path(view.event_id)
        cells, skipped = len(cells_to_replay(path)), len(skipped_cells(path))
        choice = await self.app.push_screen_wait(RollbackScreen(cells, skipped))
        if choice is not None:
            if await self.committed(self.commit(self.agent.rollback, view.event_id)) is FAILED:
                return
            self.refresh_view()
            if choice == "replay":
                self.replay()

    @work(exclusive=True, group="run")
    async def replay(self) -> None:
        from core.kernel.replay import replay

        self.started_at = time.monotonic()
        self.activity = "running"
        self.status.kernel = "replaying"
        try:
            report = await replay(
                self.agent.session,
                self.agent.runner,
                progress=lambda i, n: setattr(self.status, "kernel", f"replaying {i}/{n}"),
                write=lambda fn, *args: self.committed(self.commit(fn, *args)),
            )
            self.notify(
                f"replayed {report.ran} of {report.cells} cells"
                + (" (stopped at a failing cell)" if report.failed else "")
                + (f"; skipped {len(report.skipped)} cut short" if report.skipped else "")
            )
        except Exception as error:
            self.notify_error(error)
        finally:
            self.status.kernel = self.kernel_state()
            self.at_rest(force=True)
        self.refresh_view()

    def action_expand(self) -> None:
        from kyzel_tui.widgets.transcript.image_view import ImageView

        view = self.transcript.selected()
        if isinstance(view, (ResultView, ImageView)):
            view.toggle()

    def action_show_more(self) -> None:
        self.transcript.show_more(500)
        self.refresh_view()

    def action_focus_prompt(self) -> None:
        self.prompt.focus()

    def action_leave_prompt(self) -> None:
        views = self.transcript.query(EventView)
        if views:
            views.last().focus()
        else:
            self.transcript.focus()

    def action_load_demo(self) -> None:
        self.app.load_model(demo=True)

    def action_help(self) -> None:
        from kyzel_tui.screens.help import HelpScreen

        rows = help_rows(self.app, [*self.BINDINGS, *self.app.BINDINGS])
        self.app.push_screen(HelpScreen(rows))

    @work(group="dialog")
    async def action_sessions(self) -> None:
        from kyzel_tui.screens.sessions import SessionsScreen

        session = self.agent.session
        screen = SessionsScreen(session.store, session.id, self.agent.writer)
        session_id = await self.app.push_screen_wait(screen)
        if session_id is not None:
            self.app.open_session(None if session_id == "new" else session_id)

    @work(group="dialog")
    async def action_branches(self) -> None:
        from kyzel_tui.screens.branches import BranchScreen

        if not self.agent.tree.head:
            self.notify("Nothing here yet: the tree grows with the conversation.")
            return
        event_id = await self.app.push_screen_wait(BranchScreen(self.agent.tree))
        if event_id is not None and event_id != self.agent.tree.head:
            self.show_when_committed(self.commit(self.agent.go_to, event_id))
