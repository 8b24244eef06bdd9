"""The main screen: the transcript, the prompt, and every key that judges, edits or steers a turn.

The screen turns keys into calls on the `core.agent.Agent`; the agent writes the events, in the
app's writer thread (`main_writes`), and the screen shows them once committed. Slow work runs in
workers: generation in a thread (its text arrives as `Streamed` messages), code in the kernel
through asyncio, the model loading in a thread. The event loop never waits on them.

Nothing acts on a turn the user has not seen: focus moves to a new turn only while the message
box is empty and untouched, and keys that act on the head turn do nothing for `GUARD` seconds
after a turn arrives. The keys themselves live in `kyzel_tui.keys`.
"""

from __future__ import annotations

import concurrent.futures
import time

from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Input
from textual.worker import WorkerCancelled, WorkerFailed

from core.agent import Agent, AgentConfig
from core.model.generate import Generation
from core.session import HEAD, Session
from core.store.database import StoreError
from core.store.writer import FAILED
from grammars.turn import render
from kyzel_tui.keys import MAIN_BINDINGS, keys_of
from kyzel_tui.messages import Generated, ModelFailed, ModelReady, Progress, Streamed
from kyzel_tui.screens.main_actions import EditingActions, MovingActions
from kyzel_tui.screens.main_writes import Writing
from kyzel_tui.widgets.status_bar import StatusBar
from kyzel_tui.widgets.transcript.result_view import ResultView
from kyzel_tui.widgets.transcript.transcript import Transcript
from kyzel_tui.widgets.transcript.turn_view import TurnView
from kyzel_tui.widgets.waiting_bar import WaitingBar

GUARD = 0.5
"""Seconds after a turn arrives during which no key acts on it (a key meant for the message box,
or pressed before the turn was seen, must not run or discard it)."""
TYPING = 1.0
"""Seconds after the last change to the message box during which focus never leaves it."""
ACTS_ON_HEAD = {"run", "edit", "edit_in_editor", "edit_thought", "reject", "retry", "continue"}


class MainScreen(Writing, EditingActions, MovingActions, Screen):
    CSS_PATH = "main.tcss"
    BINDINGS = MAIN_BINDINGS
    AUTO_FOCUS = "#prompt"
    """Not the transcript (the first focusable widget): letters typed at once are a message."""

    def __init__(self, agent: Agent):
        super().__init__()
        self.agent = agent
        self.generation: Generation | None = None
        self.running = False
        self.model_failed = False
        self.queued: list[str] = []
        self.stopping = False
        """Escape stopped the generation: its partial text is kept as a stopped turn."""
        self.want_turn = False
        """A turn was asked for while the model loaded: it starts once the model is ready."""
        self.landed_at = 0.0
        self.typed_at = 0.0
        self.focus_wanted: str | None = None
        """A turn that takes the focus once the message box is left alone."""
        self.focus_asked_at = 0.0
        self._clearing = False
        self.run_worker_ref = None
        self.started_at = 0.0
        self.tokens = 0
        self.generating: tuple[object, str | None] = (HEAD, None)
        """The parent and the source of the turn being written."""
        self.db_waiting = False
        """A write has waited for the database for a while (another process holds its lock)."""
        self.quitting = False

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield Transcript(id="transcript")
        yield WaitingBar("", id="pending-bar")
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

    @property
    def prompt(self) -> Input:
        return self.query_one("#prompt", Input)

    def on_mount(self) -> None:
        self.status.auto = self.agent.config.auto
        self.status.kernel = self.kernel_state()
        self.prompt.focus()
        self.progress_timer = self.set_interval(0.5, self.show_progress)
        # The transcript of a long session takes a while to lay out: the frame around it first.
        self.call_after_refresh(self.refresh_view)

    def on_unmount(self) -> None:
        # The app's exit waits for the worker that follows a generation: stop the generation, or
        # quitting mid-turn would hang until the model reached its token budget.
        if self.generation is not None:
            self.generation.cancel()

    # What is on screen

    def refresh_view(self) -> None:
        self.transcript.show(
            self.agent.tree if self.agent.session.tree.head else None,
            self.agent.pending().id if self.agent.pending() else None,
        )
        session = self.agent.session
        try:
            self.status.title = session.store.session(session.id).title or "new session"
        except StoreError:
            self.status.title = "(deleted session)"
        self.update_pending_bar()
        self.refresh_bindings()
        target = self.agent.pending() or self.agent.stopped()
        if target is not None:  # the keys act on it: it takes the focus, if the box lets it go
            self.focus_wanted, self.focus_asked_at = target.id, time.monotonic()
            self._focus_when_untouched()

    def box_busy(self) -> bool:
        """The message box holds text or was typed into a moment ago: focus stays there."""
        return bool(self.prompt.value) or time.monotonic() - self.typed_at < TYPING

    def too_soon(self) -> bool:
        return time.monotonic() - self.landed_at < GUARD

    def settled(self) -> bool:
        """The last turn has been seen and the focus has gone where it goes (for tests)."""
        return not self.too_soon() and self.focus_wanted is None and not self.writing()

    def _focus_when_untouched(self) -> None:
        """Focus the turn that waits once the box has been left alone for `TYPING` seconds;
        never if the user types in the meantime (their letters stay in the box)."""
        if self.focus_wanted is None:
            return
        if self.typed_at > self.focus_asked_at or self.prompt.value:
            self.focus_wanted = None
            return
        wait = TYPING - (time.monotonic() - self.typed_at)
        if wait > 0:
            self.set_timer(wait, self._focus_when_untouched)
            return
        event_id, self.focus_wanted = self.focus_wanted, None
        self.call_after_refresh(self._focus_event, event_id)

    def _focus_event(self, event_id: str) -> None:
        if self.box_busy() or self.app.screen is not self:
            return
        for view in self.query(TurnView):
            if view.event_id == event_id:
                view.focus()

    def kernel_state(self) -> str:
        runner = self.agent.runner
        return "not started" if runner is None or runner.state == "stopped" else runner.state

    def update_pending_bar(self) -> None:
        busy = self.generation is not None or self.running
        in_box = self.app.focused is self.prompt
        self.query_one(WaitingBar).show(
            None if busy else self.agent, lambda i: keys_of(self.app, i), in_box
        )

    def on_descendant_focus(self) -> None:
        self.update_pending_bar()

    def on_descendant_blur(self) -> None:
        self.update_pending_bar()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        busy = self.generation is not None or self.running or self.writing()
        in_box = self.app.focused is self.prompt
        if action in ACTS_ON_HEAD:
            allowed = not busy and self._head_action_possible(action)
            return None if allowed and self.too_soon() else allowed
        if action == "leave_prompt":
            return in_box
        if action == "select":
            return not in_box
        if action == "stop":
            return self.generation is not None
        if action == "interrupt":
            return self.running
        if action == "load_demo":
            return self.model_failed
        return True

    def _head_action_possible(self, action: str) -> bool:
        if action in ("run", "edit_thought", "reject"):
            return self.agent.pending() is not None
        if action in ("edit", "edit_in_editor"):
            return self.edit_target() is not None
        if action == "retry":
            return self.agent.head_event() is not None
        return self.agent.stopped() is not None or self.agent.unanswered() is not None

    def notify_error(self, error: Exception) -> None:
        # Errors quote foreign text (paths, model output): never read it as markup.
        self.notify(str(error), title="kyzel-tui", severity="error", timeout=10, markup=False)

    def show_progress(self) -> None:
        """Live figures while a turn streams (tokens, seconds, tokens/s) or code runs."""
        if self.db_waiting:
            self.status.activity = self.waiting_notice
            return
        elapsed = time.monotonic() - self.started_at
        if self.generation is not None:
            rate = self.tokens / elapsed if elapsed > 0 else 0.0
            self.status.activity = f"writing {self.tokens} tok · {elapsed:.0f} s · {rate:.1f} tok/s"
        elif self.running:
            self.status.activity = f"running {elapsed:.0f} s"  # the result says how to interrupt
        else:
            self.status.activity = ""

    # Messages from workers

    def on_progress(self, message: Progress) -> None:
        self.status.model = message.text

    def on_model_ready(self, message: ModelReady) -> None:
        self.agent.model = message.model
        self.model_failed = False
        self.status.show_loaded(message.model)
        if message.model.demo:
            self.notify(
                "Demo model: random weights, so its turns are noise shaped by the grammar.",
                severity="warning",
                timeout=8,
            )
        self.refresh_bindings()
        if self.want_turn:
            self.want_turn = False
            self.generate()

    def on_model_failed(self, message: ModelFailed) -> None:
        self.model_failed = True
        self.status.model = "no model: press d for the small embedded model"
        self.notify(
            f"{message.error}\nPress d to use the small embedded model (SmolLM2-135M) instead.",
            title="no model",
            severity="error",
            timeout=30,
            markup=False,
        )
        self.refresh_bindings()

    def on_streamed(self, message: Streamed) -> None:
        self.tokens += 1  # one chunk per token step (a split character waits for its rest)
        self.transcript.stream(message.text)

    def on_generated(self, message: Generated) -> None:
        self.generation = None
        self.show_progress()
        stopping, self.stopping = self.stopping, False
        if self.quitting:
            return  # `abort` keeps what was written
        if message.error:
            self.notify(message.error, severity="error", timeout=10, markup=False)
        # Stopped by escape or by a message typed meanwhile: the partial turn is kept.
        self.land(self._store_generated(message, keep_stopped=stopping))

    @work(group="store")
    async def land(self, future: concurrent.futures.Future | None) -> None:
        """Show a generated turn once it is committed, and go on from it."""
        turn = await self.committed(future) if future is not None else None
        turn = None if turn is FAILED else turn
        self.transcript.end_stream()
        self.landed_at = time.monotonic()
        self.set_timer(GUARD, self.refresh_bindings)
        self.refresh_view()
        if self.queued:
            self.send(self.queued.pop(0))
        elif turn is not None and turn.body.code is not None and self.agent.config.auto:
            self.run_turn(turn.id)
        elif (turn is None or turn.body.answer is not None) and self.agent.stopped() is None:
            self.prompt.focus()

    def _store_generated(self, message: Generated, keep_stopped: bool):
        generated = message.generated
        if generated is None:
            return None
        self.status.speed = generated.stats.summary()
        origin = "edited" if message.source else "generated"
        store = self.agent.keep_stopped if generated.cancelled else self.agent.finish_turn
        if interrupted := generated.settings.get("interrupted"):  # a server that went away
            self.notify(
                f"{interrupted}; what it wrote is kept as a stopped turn",
                markup=False,
                severity="error",
            )
        if generated.cancelled and not (keep_stopped or interrupted):
            return None
        return self.commit(store, generated, message.parent, origin, message.source)

    # The prompt

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._clearing and not event.value:
            self._clearing = False  # our own clearing after a send is not the user typing
            return
        self.typed_at = time.monotonic()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        self.typed_at = time.monotonic()
        if event.value:
            self._clearing = True
            event.input.value = ""
        if text:
            self.send(text)
        elif self.check_action("run", ()) and not self.too_soon():
            self.action_run()
        elif self.check_action("continue", ()) and not self.too_soon():
            self.action_continue()

    def send(self, text: str) -> None:
        if self.running:  # the result must land first; the message follows it
            self.queued.append(text)
            self.notify("Your message goes to the model once the code has finished.")
            return
        if self.generation is not None:  # an interjection: the partial turn is kept, stopped
            self.stopping = True
            self.generation.cancel()
            self.queued.append(text)
            return
        self.said(text, self.commit(self.agent.say, text))

    # Generating

    def generate(self, parent: object = HEAD, prefix: str = "", source: str | None = None) -> None:
        if self.agent.model is None:
            self.want_turn = parent is HEAD and not prefix
            self.status.model = "the model is still loading; your turn comes when it is ready"
            return
        try:
            self.generation = self.agent.start_turn(parent, prefix)
        except (RuntimeError, ValueError) as error:
            self.notify_error(error)
            return
        self.started_at, self.tokens = time.monotonic(), 0
        self.generating = (parent, source)
        self.transcript.begin_stream(prefix)
        self.show_progress()
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
            self.stopping = True
            self.generation.cancel()

    def action_retry(self) -> None:
        """A new turn beside the head turn (code, answer or stopped); after a message or a
        result, simply the model's turn."""
        head = self.agent.head_event()
        if head is not None and not self.too_soon():
            self.generate(parent=head.parent_id if head.kind == "turn" else HEAD)

    def action_continue(self) -> None:
        """Resume a stopped turn from its raw text, under the grammar; or answer the head."""
        if self.too_soon():
            return
        stopped = self.agent.stopped()
        if stopped is not None:
            prefix = stopped.body.raw or render(self._fields(stopped))
            self.generate(parent=stopped.parent_id, prefix=prefix, source=stopped.body.source)
        elif self.agent.unanswered() is not None:
            self.generate()

    # Running

    def action_run(self) -> None:
        pending = self.agent.pending()
        if pending is not None and not self.running and not self.too_soon():
            self.run_worker_ref = self.run_turn(pending.id)

    @work(exclusive=True, group="run")
    async def run_turn(self, turn_id: str) -> None:
        self.running = True
        self.started_at = time.monotonic()
        self.update_pending_bar()
        self.refresh_bindings()
        self.status.kernel = "busy"
        self.show_progress()
        live: ResultView = self.transcript.begin_result()
        result = None
        try:
            result = await self.agent.run(
                turn_id,
                on_output=lambda out: live.add_live(
                    out.text + ("\n" if out.kind != "stream" else "")
                ),
            )
        except StoreError as error:  # the result could not be saved (a full disk, a deletion)
            self.store_failed(error)
        except Exception as error:  # a kernel that cannot start: say so, keep the session
            self.notify_error(error)
        finally:
            self.running = False
            self.status.kernel = self.kernel_state()
            self.show_progress()
        self.refresh_view()
        if self.queued:
            self.send(self.queued.pop(0))
        elif result is not None and result.body.status != "interrupted":
            self.generate()  # after an interrupt the user decides what comes next

    async def action_interrupt(self) -> None:
        if self.running and self.agent.runner is not None:
            await self.agent.runner.interrupt()

    async def abort(self) -> None:
        """Before quitting: stop the turn being written (kept as a stopped turn), cut the
        running code (stored as an `aborted` result with its output so far)."""
        self.quitting = True
        generation, self.generation = self.generation, None
        if generation is not None:
            generation.cancel()
            await self._keep_cut_turn(generation)
        worker = self.run_worker_ref
        if self.running and worker is not None and not worker.is_finished:
            worker.cancel()
            try:
                await worker.wait()
            except (WorkerCancelled, WorkerFailed):
                pass  # what matters happened in the agent: the aborted result is stored


def new_agent(
    store, session_id: str | None, model, runner, config: AgentConfig, writer=None, session=None
) -> Agent:
    """The agent of a session (None: a new one, unless `session` is given); with a
    `StoreWriter`, its writes go through the writer's thread and connection."""
    if session is None:
        session = Session.open(store, session_id) if session_id else Session.create(store)
    agent = Agent(session, model, runner, config)
    if writer is not None:
        session.writes = writer.store
        agent.writer = writer
    return agent
