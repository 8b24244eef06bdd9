"""The main screen: the transcript, the prompt, and every key that judges, edits or steers a turn.

The screen turns keys into calls on the `core.agent.Agent`; the agent writes the events, in the
app's writer thread (`main_writes`), and the screen shows them once committed. Slow work runs in
workers: generation in a thread (its text arrives as `Streamed` messages), code in the kernel
through asyncio (`main_turns`), the model loading in a thread. The event loop never waits on them.
What the screen is doing is one reactive, `activity`; the keys that can act follow from it.

Nothing acts on a turn the user has not seen (`main_prompt`: the message box keeps the focus
while it is used, and keys wait `GUARD` seconds after a turn arrives). The keys themselves live
in `kyzel_tui.keys`.
"""

from __future__ import annotations

import concurrent.futures
import time

from textual.app import ComposeResult
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Input

from core.agent import Agent, AgentConfig
from core.model.generate import Generation
from core.session import HEAD, Session
from core.store.database import StoreError
from kyzel_tui.keys import MAIN_BINDINGS, keys_of
from kyzel_tui.messages import ModelFailed, ModelReady, Progress
from kyzel_tui.screens.main_actions import EditingActions, MovingActions
from kyzel_tui.screens.main_prompt import GUARD, PromptGuard
from kyzel_tui.screens.main_turns import TurnFlow
from kyzel_tui.screens.main_writes import Writing
from kyzel_tui.widgets.footer import KeysFooter
from kyzel_tui.widgets.status_bar import StatusBar
from kyzel_tui.widgets.transcript.transcript import Transcript
from kyzel_tui.widgets.waiting_bar import WaitingBar

ACTS_ON_HEAD = {"run", "edit", "edit_in_editor", "edit_thought", "reject", "retry", "continue"}
AT_REST = ("idle", "seeing", "writing")
"""The activities that end by themselves (the others end with their generation or run)."""


class MainScreen(PromptGuard, Writing, TurnFlow, EditingActions, MovingActions, Screen):
    CSS_PATH = "main.tcss"
    BINDINGS = MAIN_BINDINGS
    AUTO_FOCUS = "#prompt"
    """Not the transcript (the first focusable widget): letters typed at once are a message."""

    activity: reactive[str] = reactive("idle", bindings=True)
    """What the screen is doing: `generating` (the model writes a turn), `running` (code or a
    replay), `writing` (a write the keys wait for), `seeing` (a turn has just landed: for
    `GUARD` seconds no key acts on it) or `idle`. The footer, the palette and the waiting bar
    follow it."""
    model_failed: reactive[bool] = reactive(False, bindings=True)
    """No model could be loaded: `d` loads the embedded one."""

    def __init__(self, agent: Agent):
        super().__init__()
        self.agent = agent
        self.generation: Generation | None = None
        self.in_flight: set[concurrent.futures.Future] = set()
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
        self.clearing = False
        self.run_worker_ref = None
        self.started_at = 0.0
        self.tokens = 0
        self.generating: tuple[object, str | None] = (HEAD, None)
        """The parent and the source of the turn being written."""
        self.db_waiting = False
        """A write has waited for the database for a while (another process holds its lock)."""
        self.quitting = False

    @property
    def running(self) -> bool:
        return self.activity == "running"

    def watch_activity(self) -> None:
        if not self.is_mounted:
            return  # a write queued by the app before the screen was composed
        self.update_pending_bar()
        self.show_progress()

    def at_rest(self, force: bool = False) -> None:
        """After a step (or with `force`, after a generation or a run): `writing` while a write
        the keys wait for is queued, `seeing` within `GUARD` seconds of a turn landing, else
        `idle`."""
        if not force and self.activity not in AT_REST:
            return
        left = GUARD - (time.monotonic() - self.landed_at)
        if self.writing():
            self.activity = "writing"
        elif left > 0:
            self.activity = "seeing"
            self.set_timer(left, self.at_rest)
        else:
            self.activity = "idle"

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield Transcript(id="transcript")
        yield WaitingBar("", id="pending-bar")
        yield Input(
            placeholder="Message (enter sends; escape leaves the box for the keys)", id="prompt"
        )
        yield KeysFooter()

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
        except StoreError:  # not stored yet (nothing written), or deleted by another process
            self.status.title = "new session" if not session.tree.head else "(deleted session)"
        self.update_pending_bar()
        target = self.agent.pending() or self.agent.stopped()
        if target is not None:  # the keys act on it: it takes the focus, if the box lets it go
            self.focus_when_untouched(target.id)

    def kernel_state(self) -> str:
        runner = self.agent.runner
        return "not started" if runner is None or runner.state == "stopped" else runner.state

    def update_pending_bar(self) -> None:
        busy = self.activity in ("generating", "running")
        in_box = self.app.focused is self.prompt
        self.query_one(WaitingBar).show(
            None if busy else self.agent, lambda i: keys_of(self.app, i), in_box
        )

    def on_descendant_focus(self) -> None:
        self.update_pending_bar()

    def on_descendant_blur(self) -> None:
        self.update_pending_bar()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        in_box = self.app.focused is self.prompt
        if action in ACTS_ON_HEAD:
            if self.activity not in ("idle", "seeing") or not self._head_action_possible(action):
                return False
            return None if self.activity == "seeing" else True  # shown, not yet usable
        if action == "leave_prompt":
            return in_box
        if action == "select":
            return not in_box
        if action == "stop":
            return self.activity == "generating"
        if action == "interrupt":
            return self.running
        if action == "load_demo":
            return self.model_failed
        return True

    def _head_action_possible(self, action: str) -> bool:
        if action in ("run", "edit_thought", "reject"):
            return self.agent.pending() is not None
        if action in ("edit", "edit_in_editor"):
            return self.agent.edit_target() is not None
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
        if self.activity == "generating":
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
        if self.want_turn:
            self.want_turn = False
            self.generate()

    def on_model_failed(self, message: ModelFailed) -> None:
        self.model_failed = True
        key = keys_of(self.app, "load_demo")
        self.status.model = f"no model: press {key} for the small embedded model"
        self.notify(
            f"{message.error}\nPress {key} to use the small embedded model (SmolLM2-135M) instead.",
            title="no model",
            severity="error",
            timeout=30,
            markup=False,
        )


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
