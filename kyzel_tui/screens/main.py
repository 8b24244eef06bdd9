"""The main screen: the transcript, the prompt, and every key that judges, edits or steers a turn.

The screen turns keys into calls on the `core.agent.Agent`; the agent writes the events. Slow
work runs in workers: generation in a thread (its text arrives as `Streamed` messages), code in
the kernel through asyncio, the model loading in a thread. The event loop never waits on them.
"""

from __future__ import annotations

from dataclasses import replace

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from core.agent import Agent, AgentConfig
from core.generate import Generation
from core.session import HEAD, Session
from core.store import StoreError
from grammars.turn import THOUGHT, TurnFields, render
from kyzel_tui.messages import Generated, ModelFailed, ModelReady, Progress, Streamed
from kyzel_tui.widgets.status_bar import StatusBar
from kyzel_tui.widgets.transcript.event_view import EventView
from kyzel_tui.widgets.transcript.result_view import ResultView
from kyzel_tui.widgets.transcript.transcript import Transcript
from kyzel_tui.widgets.transcript.turn_view import TurnView

NEEDS_PENDING = {"run", "edit", "edit_in_editor", "edit_thought", "reject"}


class MainScreen(Screen):
    CSS_PATH = "main.tcss"
    BINDINGS = [
        Binding("enter,y", "run", "Run", tooltip="Run the pending code", id="run"),
        Binding(
            "e", "edit", "Edit", tooltip="Edit the pending turn; saved as a sibling", id="edit"
        ),
        Binding(
            "ctrl+e",
            "edit_in_editor",
            "$EDITOR",
            tooltip="Edit the pending turn in $EDITOR",
            id="edit_in_editor",
        ),
        Binding(
            "t",
            "edit_thought",
            "Thought",
            id="edit_thought",
            tooltip="Edit only the thought; the model writes the rest",
        ),
        Binding(
            "r",
            "retry",
            "Retry",
            id="retry",
            tooltip="A new generation in the same place; the old one stays as a sibling",
        ),
        Binding(
            "left",
            "sibling(-1)",
            "◀",
            id="previous_sibling",
            tooltip="The previous sibling of the pending or selected turn",
        ),
        Binding(
            "right",
            "sibling(1)",
            "▶",
            id="next_sibling",
            tooltip="The next sibling of the pending or selected turn",
        ),
        Binding(
            "n",
            "reject",
            "Skip",
            id="reject",
            tooltip="Do not run the pending code; an optional reason goes to the model",
        ),
        Binding("plus", "rate('up')", "+", id="rate_up", tooltip="Rate the selected turn up"),
        Binding(
            "minus", "rate('down')", "-", id="rate_down", tooltip="Rate the selected turn down"
        ),
        Binding(
            "u",
            "rollback",
            "Roll back",
            id="rollback",
            tooltip="Continue from the selected event; offers to replay the kernel",
        ),
        Binding("escape", "stop", "Stop", id="stop", tooltip="Stop the generation now"),
        Binding(
            "escape",
            "leave_prompt",
            "Keys",
            show=False,
            id="leave_prompt",
            tooltip="Leave the message box: the keys act on the transcript again",
        ),
        Binding(
            "ctrl+c",
            "interrupt",
            "Interrupt",
            priority=True,
            id="interrupt",
            tooltip="Interrupt the running code",
        ),
        Binding(
            "o", "expand", "Expand", id="expand", tooltip="Expand or collapse the selected result"
        ),
        Binding("i", "focus_prompt", "Type", id="focus_prompt", tooltip="Write a message"),
        Binding(
            "d",
            "load_demo",
            "Demo model",
            id="load_demo",
            tooltip="Load the built-in random demo model",
        ),
        Binding("ctrl+s", "sessions", "Sessions", id="sessions", tooltip="List, open, rename"),
        Binding("ctrl+b", "branches", "Branches", id="branches", tooltip="The session's tree"),
        Binding("f1", "help", "Help", id="help", tooltip="Every key"),
        Binding(
            "ctrl+home",
            "show_more",
            "Earlier",
            show=False,
            id="show_more",
            tooltip="Show earlier events of a long session",
        ),
    ]

    def __init__(self, agent: Agent):
        super().__init__()
        self.agent = agent
        self.generation: Generation | None = None
        self.running = False
        self.model_failed = False
        self.queued: list[str] = []

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield Transcript(id="transcript")
        yield Static("", id="pending-bar")
        yield Input(
            placeholder="Message (enter sends; escape leaves the box for the keys)", id="prompt"
        )
        yield Footer()

    @property
    def transcript(self) -> Transcript:
        return self.query_one(Transcript)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    def on_mount(self) -> None:
        self.status.auto = self.agent.config.auto
        self.query_one("#prompt", Input).focus()
        # The transcript of a long session takes a while to lay out: the frame around it first.
        self.call_after_refresh(self.refresh_view)

    def on_unmount(self) -> None:
        # The app's exit waits for the worker that follows a generation: stop the generation, or
        # quitting mid-turn would hang until the model reached its token budget.
        if self.generation is not None:
            self.generation.cancel()

    # What is on screen

    def refresh_view(self) -> None:
        pending = self.agent.pending()
        self.transcript.show(
            self.agent.tree if self.agent.session.tree.head else None,
            pending.id if pending else None,
        )
        session = self.agent.session
        self.status.title = session.store.session(session.id).title or "new session"
        self.update_pending_bar()
        self.refresh_bindings()
        if pending is not None:  # the keys act on it: it takes the focus once it is mounted
            self.call_after_refresh(self._focus_event, pending.id)

    def _focus_event(self, event_id: str) -> None:
        for view in self.query(TurnView):
            if view.event_id == event_id:
                view.focus()

    def update_pending_bar(self) -> None:
        bar = self.query_one("#pending-bar", Static)
        pending = self.agent.pending()
        if pending is None or self.generation is not None or self.running:
            bar.update("")
            bar.display = False
            return
        index, count = self.agent.tree.sibling_position(pending.id)
        siblings = f" · ←/→ {index}/{count}" if count > 1 else ""
        bar.update(
            "▶ waiting for you: enter/y run · e edit · ctrl+e $EDITOR · t edit thought · "
            f"r retry · n skip{siblings}"
        )
        bar.display = True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        busy = self.generation is not None or self.running
        if action in NEEDS_PENDING:
            return not busy and self.agent.pending() is not None
        if action == "retry":
            return not busy and self.retry_target() is not None
        if action == "leave_prompt":
            return self.app.focused is self.query_one("#prompt", Input)
        if action == "stop":
            return self.generation is not None
        if action == "interrupt":
            return self.running
        if action == "load_demo":
            return self.model_failed
        return True

    def notify_error(self, error: Exception) -> None:
        # Errors quote foreign text (paths, model output): never read it as markup.
        self.notify(str(error), title="kyzel-tui", severity="error", timeout=10, markup=False)

    # Messages from workers

    def on_progress(self, message: Progress) -> None:
        self.status.model = message.text

    def on_model_ready(self, message: ModelReady) -> None:
        self.agent.model = message.model
        self.model_failed = False
        self.status.model = message.model.label
        if message.model.demo:
            self.notify(
                "Demo model: random weights, so its turns are noise shaped by the grammar.",
                severity="warning",
                timeout=8,
            )
        self.refresh_bindings()
        if (
            self.agent.session.tree.head
            and self.agent.tree.node(self.agent.tree.head).kind == "user"
        ):
            self.generate()

    def on_model_failed(self, message: ModelFailed) -> None:
        self.model_failed = True
        self.status.model = "no model: press d for the demo model"
        self.notify(
            f"{message.error}\nPress d to use the built-in demo model instead.",
            title="no model",
            severity="error",
            timeout=30,
            markup=False,
        )
        self.refresh_bindings()

    def on_streamed(self, message: Streamed) -> None:
        self.transcript.stream(message.text)

    def on_generated(self, message: Generated) -> None:
        self.generation = None
        self.transcript.end_stream()
        if message.error:
            self.notify(message.error, severity="error", timeout=10, markup=False)
        turn = None
        if message.generated is not None:
            stats = message.generated.stats
            self.status.speed = f"{stats.tokens_per_second:.1f} tok/s"
            origin = "edited" if message.source else "generated"
            try:
                turn = self.agent.finish_turn(
                    message.generated, message.parent, origin, message.source
                )
            except StoreError as error:
                self.notify_error(error)
        self.refresh_view()
        if self.queued:
            self.send(self.queued.pop(0))
        elif turn is not None and turn.body.code is not None and self.agent.config.auto:
            self.run_turn(turn.id)
        elif turn is None or turn.body.answer is not None:
            self.query_one("#prompt", Input).focus()

    # The prompt

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        event.input.value = ""
        if text:
            self.send(text)
        elif self.agent.pending() is not None:
            self.action_run()

    def send(self, text: str) -> None:
        if self.running:  # the result must land first; the message follows it
            self.queued.append(text)
            self.notify("Your message goes to the model once the code has finished.")
            return
        if self.generation is not None:  # an interjection: the partial turn is dropped
            self.generation.cancel()
            self.queued.append(text)
            return
        try:
            self.agent.say(text)
        except StoreError as error:
            self.notify_error(error)
            return
        self.refresh_view()
        self.generate()

    # Generating

    def generate(self, parent: object = HEAD, prefix: str = "", source: str | None = None) -> None:
        if self.agent.model is None:
            self.status.model = "the model is still loading; your turn comes when it is ready"
            return
        try:
            self.generation = self.agent.start_turn(parent, prefix)
        except (RuntimeError, ValueError) as error:
            self.notify_error(error)
            return
        self.transcript.begin_stream(prefix)
        self.update_pending_bar()
        self.refresh_bindings()
        self.follow_generation(self.generation, parent, source)

    @work(thread=True, exclusive=True, group="generate")
    def follow_generation(self, generation: Generation, parent: object, source: str | None):
        for chunk in generation:
            self.post_message(Streamed(chunk))
        try:
            self.post_message(Generated(generation.result(), parent, source))
        except Exception as error:  # shown to the user; the session is untouched
            self.post_message(Generated(None, parent, source, error=f"generation failed: {error}"))

    def action_stop(self) -> None:
        if self.generation is not None:
            self.generation.cancel()

    def retry_target(self):
        """The turn that a retry replaces: the head, when it is a turn (pending code or an
        answer); an answer can be wrong too."""
        head = self.agent.tree.head
        event = self.agent.tree.node(head) if head else None
        return event if event is not None and event.kind == "turn" else None

    def action_retry(self) -> None:
        target = self.retry_target()
        if target is not None:
            self.generate(parent=target.parent_id)

    # Running

    def action_run(self) -> None:
        pending = self.agent.pending()
        if pending is not None and not self.running:
            self.run_turn(pending.id)

    @work(exclusive=True, group="run")
    async def run_turn(self, turn_id: str) -> None:
        self.running = True
        self.update_pending_bar()
        self.refresh_bindings()
        self.status.kernel = "busy"
        live: ResultView = self.transcript.begin_result()
        try:
            await self.agent.run(
                turn_id,
                on_output=lambda out: live.add_live(
                    out.text + ("\n" if out.kind != "stream" else "")
                ),
            )
        except Exception as error:  # a kernel that cannot start: say so, keep the session
            self.notify_error(error)
        finally:
            self.running = False
            self.status.kernel = self.agent.runner.state if self.agent.runner else "none"
        self.refresh_view()
        if self.queued:
            self.send(self.queued.pop(0))
        else:
            self.generate()

    async def action_interrupt(self) -> None:
        if self.running and self.agent.runner is not None:
            await self.agent.runner.interrupt()

    # Judging and editing

    def action_reject(self) -> None:
        pending = self.agent.pending()
        if pending is None:
            return

        def rejected(reason: str | None) -> None:
            if reason is None:
                return
            self.agent.reject(pending.id, reason)
            self.refresh_view()
            self.generate()

        from kyzel_tui.screens.reason import ReasonScreen

        self.app.push_screen(ReasonScreen(), rejected)

    def selected_turn(self):
        view = self.transcript.selected()
        if (
            view is not None
            and view.event_id
            and self.agent.tree.node(view.event_id).kind == "turn"
        ):
            return self.agent.tree.node(view.event_id)
        turns = (
            [e for e in self.agent.tree.path() if e.kind == "turn"] if self.agent.tree.head else []
        )
        return turns[-1] if turns else None

    def action_rate(self, value: str) -> None:
        turn = self.selected_turn()
        if turn is not None:
            self.agent.rate(turn.id, value)
            self.notify(f"rated {'+' if value == 'up' else '-'}")
            # In place: redrawing the transcript would lose the selection (the next key would
            # rate another turn), cost a long session a second, and drop a streaming turn.
            self.transcript.update_notes(self.agent.tree, turn.id)

    def _fields(self, event) -> TurnFields:
        body = event.body
        return TurnFields(body.thought, code=body.code, answer=body.answer)

    def action_edit(self) -> None:
        pending = self.agent.pending()
        if pending is None:
            return

        def edited(fields: TurnFields | None) -> None:
            if fields is not None:
                self.agent.edit(pending.id, fields.thought, fields.code, fields.answer)
                self.refresh_view()

        from kyzel_tui.screens.edit import EditTurnScreen

        self.app.push_screen(EditTurnScreen(self._fields(pending)), edited)

    def action_edit_thought(self) -> None:
        pending = self.agent.pending()
        if pending is None:
            return

        def edited(fields: TurnFields | None) -> None:
            if fields is not None:
                prefix = THOUGHT[0] + fields.thought + THOUGHT[1] + "\n"
                self.generate(parent=pending.parent_id, prefix=prefix, source=pending.id)

        from kyzel_tui.screens.edit import EditTurnScreen

        self.app.push_screen(EditTurnScreen(self._fields(pending), thought_only=True), edited)

    def action_edit_in_editor(self) -> None:
        from kyzel_tui.external_editor import edit_in_editor

        pending = self.agent.pending()
        if pending is None:
            return
        try:
            fields = edit_in_editor(self.app, render(self._fields(pending)))
        except ValueError as error:
            self.notify_error(error)
            return
        if fields is not None:
            self.agent.edit(pending.id, fields.thought, fields.code, fields.answer)
            self.refresh_view()

    # Moving around

    def action_sibling(self, step: int) -> None:
        view = self.transcript.selected()
        pending = self.agent.pending()
        target = (
            view.event_id
            if view is not None and view.event_id
            else (pending.id if pending else None)
        )
        if target is None or self.generation is not None or self.running:
            return
        if self.agent.switch(target, step) is not None:
            self.refresh_view()

    def action_rollback(self) -> None:
        view = self.transcript.selected()
        if view is None or not view.event_id or self.generation is not None or self.running:
            self.notify("Select an event in the transcript first (tab or the mouse).")
            return
        from core.replay import cells_to_replay, skipped_cells
        from kyzel_tui.screens.rollback import RollbackScreen

        path = self.agent.tree.path(view.event_id)
        cells, skipped = len(cells_to_replay(path)), len(skipped_cells(path))

        def chosen(choice: str | None) -> None:
            if choice is None:
                return
            self.agent.rollback(view.event_id)
            self.refresh_view()
            if choice == "replay":
                self.replay()

        self.app.push_screen(RollbackScreen(cells, skipped), chosen)

    @work(exclusive=True, group="run")
    async def replay(self) -> None:
        from core.replay import replay

        self.running = True
        self.status.kernel = "replaying"
        try:
            report = await replay(
                self.agent.session,
                self.agent.runner,
                progress=lambda i, n: setattr(self.status, "kernel", f"replaying {i}/{n}"),
            )
            self.notify(
                f"replayed {report.ran} of {report.cells} cells"
                + (" (stopped at a failing cell)" if report.failed else "")
                + (f"; skipped {len(report.skipped)} cut short" if report.skipped else "")
            )
        except Exception as error:
            self.notify_error(error)
        finally:
            self.running = False
            self.status.kernel = self.agent.runner.state
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
        self.query_one("#prompt", Input).focus()

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

        keymap = getattr(self.app, "keymap", {})
        rows = []
        for binding in [*self.BINDINGS, *self.app.BINDINGS]:
            if not isinstance(binding, Binding) or not binding.description:
                continue
            if binding.id in keymap:  # rebound in config.toml: show the user's keys
                binding = replace(binding, key=keymap[binding.id], key_display=None)
            rows.append((self.app.get_key_display(binding), binding.description, binding.tooltip))
        self.app.push_screen(HelpScreen(rows))

    def action_sessions(self) -> None:
        from kyzel_tui.screens.sessions import SessionsScreen

        def chosen(session_id: str | None) -> None:
            if session_id is not None:
                self.app.open_session(None if session_id == "new" else session_id)

        self.app.push_screen(
            SessionsScreen(self.agent.session.store, self.agent.session.id), chosen
        )

    def action_branches(self) -> None:
        from kyzel_tui.screens.branches import BranchScreen

        if not self.agent.tree.head:
            self.notify("Nothing here yet: the tree grows with the conversation.")
            return

        def chosen(event_id: str | None) -> None:
            if event_id is not None and event_id != self.agent.tree.head:
                self.agent.session.move_head(event_id, reason="branch view")
                self.refresh_view()

        self.app.push_screen(BranchScreen(self.agent.tree), chosen)


def new_agent(store, session_id: str | None, model, runner, config: AgentConfig) -> Agent:
    session = Session.open(store, session_id) if session_id else Session.create(store)
    return Agent(session, model, runner, config)
