"""The agent: the loop of a task, and the one place where user actions become events.

user message -> stream a turn -> the user's verdict -> run the code -> store the result -> next
turn, until the model answers or the user speaks. Each method does one step and commits its events
before it returns, so a crash loses nothing that a caller was told is done. The caller drives:
the app binds the steps to keys, a script or a test calls `run_task`, which chains them.

The model is a `core.model.backend.Backend` (local transformers or a serving engine: the agent
cannot tell them apart); its generation runs in a worker thread, code runs in the kernel through
asyncio (`core.kernel.runner`). The agent knows nothing of Textual.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.chat import prompt_messages
from core.events import Event, KernelEvent, Result, Turn, UserMessage
from core.kernel.runner import KernelRunner, OutputEvent
from core.model.backend import Backend, as_backend
from core.model.generate import GeneratedTurn, Generation, Sampling
from core.partial import STOPPED, is_stopped, partial_fields
from core.session import HEAD, Session
from grammars.turn import SEPARATOR, THOUGHT, TurnFields, render

Approve = Callable[[Event], "str | tuple[str, str]"]
"""Decides on a turn with code: "run", "stop", or ("skip", reason)."""


@dataclass
class AgentConfig:
    sampling: Sampling = field(default_factory=Sampling)
    auto: bool = False
    """Run code without asking."""
    max_steps: int = 25
    """Turns one task may take before the agent stops and hands back to the user."""


class Agent:
    """One session, one model, one kernel."""

    def __init__(
        self,
        session: Session,
        model: Any = None,
        runner: KernelRunner | None = None,
        config: AgentConfig | None = None,
    ):
        self.session = session
        self.model = model
        self.runner = runner
        self.config = config or AgentConfig()
        self.writer: Any = None
        """A `core.store.writer.StoreWriter`: when set, `run` commits through its thread, and
        the event loop that awaits the kernel never waits on the database."""
        self._running = False
        self._kernel_events: list[KernelEvent] = []
        # A kernel that starts for a session with a past has lost that past's variables.
        self._had_history = bool(session.tree.nodes())
        if runner is not None:
            runner.on_kernel_event = self._record_kernel_event
            if runner.put_blob is None:
                runner.put_blob = session.store.put_blob

    @property
    def model(self) -> Backend | None:
        """The model's backend (None until it is loaded); a `LoadedModel` set here is wrapped."""
        return self._model

    @model.setter
    def model(self, model: Any) -> None:
        self._model = as_backend(model)

    # Reading

    @property
    def tree(self):
        return self.session.tree

    def messages(self, upto: str | None) -> list[dict[str, str]]:
        """The chat the model sees for a turn after `upto` (None: a turn that starts a session)."""
        return prompt_messages(self.tree, upto)

    def head_event(self) -> Event | None:
        return self.tree.node(self.tree.head) if self.tree.head else None

    def pending(self) -> Event | None:
        """The head, when it is a turn with code that nobody has judged or run yet."""
        event = self.head_event()
        if event is None or event.kind != "turn" or event.body.code is None:
            return None
        if is_stopped(event):
            return None
        head = event.id
        if self.tree.decision(head) is not None or self.tree.children(head):
            return None
        return event

    def stopped(self) -> Event | None:
        """The head, when it is a turn the user stopped mid-way."""
        event = self.head_event()
        return event if event is not None and is_stopped(event) else None

    def unanswered(self) -> Event | None:
        """The head, when the model is due to speak: a user message, a result or a kernel note
        (after a stop, an interrupt, or a session reopened)."""
        event = self.head_event()
        return event if event is not None and event.kind in ("user", "result", "kernel") else None

    # Writing

    def say(self, text: str) -> Event:
        """A user message at the head (also in the middle of a task). After a stopped turn it
        follows what the stopped turn followed: the model never sees a half-written turn."""
        self._flush_kernel_events()
        stopped = self.stopped()
        parent = stopped.parent_id if stopped is not None else HEAD
        return self.session.append(UserMessage(text), parent=parent)

    def start_turn(self, parent: str | None | object = HEAD, prefix: str = "") -> Generation:
        """Start generating a turn after `parent` (default: the head); finish with `finish_turn`."""
        if self.model is None:
            raise RuntimeError("no model is loaded yet")
        if parent is HEAD:
            self._flush_kernel_events()
        upto = self.tree.head if parent is HEAD else parent
        return self.model.start(self.messages(upto), self.config.sampling, prefix)

    def finish_turn(
        self,
        generated: GeneratedTurn,
        parent: str | None | object = HEAD,
        origin: str = "generated",
        source: str | None = None,
    ) -> Event | None:
        """Store a finished generation as a turn; a cancelled one is not a model turn."""
        if generated.cancelled or generated.fields is None:
            return None
        fields = generated.fields
        turn = Turn(
            fields.thought,
            code=fields.code,
            answer=fields.answer,
            origin=origin,
            source=source,
            meta=self._meta(generated),
        )  # type: ignore[arg-type]
        return self.session.append(turn, parent=parent)

    def keep_stopped(
        self,
        generated: GeneratedTurn,
        parent: str | None | object = HEAD,
        origin: str = "generated",
        source: str | None = None,
    ) -> Event | None:
        """Store a generation the user stopped as a stopped turn (None if nothing was written):
        `e` edits it, `c` continues it from its raw text, `r` retries beside it."""
        if not generated.raw.strip():
            return None
        thought, code, answer = partial_fields(generated.raw)
        meta = {**self._meta(generated), "status": STOPPED}
        turn = Turn(
            thought,
            code=code,
            answer=answer,
            origin=origin,
            source=source,
            raw=generated.raw,
            meta=meta,
        )  # type: ignore[arg-type]
        return self.session.append(turn, parent=parent)

    def _meta(self, generated: GeneratedTurn) -> dict[str, Any]:
        meta = {
            "model": self.model.name if self.model is not None else None,
            "adapter": self.model.adapter if self.model is not None else None,
            "sampling": generated.settings,
            "stats": generated.stats.as_dict(),
        }
        if generated.settings.get("cut"):
            meta["cut"] = True  # the budget ran out and the client closed the turn
        if generated.settings.get("interrupted"):
            meta["interrupted"] = generated.settings["interrupted"]
        return meta

    def generate_turn(
        self,
        parent: str | None | object = HEAD,
        prefix: str = "",
        on_text: Callable[[str], None] | None = None,
        source: str | None = None,
    ) -> Event | None:
        """Generate and store one turn, blocking (for threads and scripts).

        With a `prefix` (an edited thought of turn `source`), the turn is an edited one.
        """
        origin = "edited" if prefix else "generated"
        generation = self.start_turn(parent, prefix)
        for chunk in generation:
            if on_text is not None:
                on_text(chunk)
        return self.finish_turn(generation.result(), parent, origin, source)

    def accept(self, turn_id: str) -> Event:
        return self.session.judge(turn_id, "accepted")

    def reject(self, turn_id: str, reason: str = "") -> Event:
        """Skip a turn's code; the reason goes to the model."""
        return self.session.judge(turn_id, "rejected", reason)

    def rate(self, turn_id: str, value: str) -> Event:
        return self.session.judge(turn_id, value)  # type: ignore[arg-type]

    async def run(
        self, turn_id: str, on_output: Callable[[OutputEvent], None] | None = None
    ) -> Event:
        """Run a turn's code (accepting it first if needed) and store the result under it.

        The kernel starts here, on the first run: opening a session to look at it writes
        nothing. A run cancelled (the app quits) is stored as `aborted` with its output so far.
        """
        if self.runner is None:
            raise RuntimeError("no kernel")
        turn = self.tree.node(turn_id)
        if turn.body.code is None:
            raise ValueError("this turn has no code to run")
        self._running = True
        try:
            if self.runner.client is None:
                await self.runner.start()
            decision = self.tree.decision(turn_id)
            if decision is None or decision.value != "accepted":
                await self._commit(self.accept, turn_id)
            result = await self._execute(turn_id, turn.body.code, on_output)
        finally:
            self._running = False

        def store() -> Event:
            stored = self.session.append(result, parent=turn_id)
            # What happened to the kernel while the code ran follows the result on the path.
            self._flush_kernel_events()
            return stored

        return await self._commit(store)

    async def _commit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` through the writer's thread when there is one, else here."""
        if self.writer is None:
            return fn(*args)
        return await self.writer.call(fn, *args)

    async def _execute(
        self, turn_id: str, code: str, on_output: Callable[[OutputEvent], None] | None
    ) -> Result:
        output: list[str] = []

        def collect(out: OutputEvent) -> None:
            if out.kind == "clear":
                output.clear()
            elif out.text:
                output.append(out.text + ("" if out.kind == "stream" else "\n"))
            if on_output is not None:
                on_output(out)

        started = time.monotonic()
        try:
            return await self.runner.execute(code, on_output=collect)
        except asyncio.CancelledError:
            # No turn may show "ran" without a result: say what was cut, and what it printed.
            aborted = Result(
                status="aborted",
                output="".join(output),
                duration=time.monotonic() - started,
                meta={"reason": "the app quit while the code ran"},
            )  # type: ignore[arg-type]
            self.session.append(aborted, parent=turn_id)
            raise

    def edit(
        self, turn_id: str, thought: str, code: str | None = None, answer: str | None = None
    ) -> Event:
        """An edited copy of a turn, as its sibling; it becomes the head (pending)."""
        original = self.tree.node(turn_id)
        turn = Turn(thought, code=code, answer=answer, origin="edited", source=turn_id)
        return self.session.append(turn, parent=original.parent_id)

    def retry_parent(self, turn_id: str) -> str | None:
        """Where a retry of `turn_id` grows: its parent (the old turn stays as a sibling)."""
        return self.tree.node(turn_id).parent_id

    def switch(self, event_id: str, step: int) -> Event | None:
        """Move to the sibling `step` places away (its newest leaf); None at either end."""
        siblings = self.tree.siblings(event_id)
        index = siblings.index(event_id) + step
        if not 0 <= index < len(siblings):
            return None
        target = self.tree.latest_leaf(siblings[index])
        return self.session.move_head(target, reason="branch")

    def rollback(self, event_id: str) -> Event | None:
        """Continue from an earlier event: the head moves there, a new branch will grow."""
        return self.session.move_head(event_id, reason="rollback")

    def _record_kernel_event(self, event: KernelEvent) -> None:
        if event.state == "started":
            if not self._had_history:
                return  # a new session: there was no earlier kernel state to lose
            event = KernelEvent(
                "restarted",
                "a new kernel for this session: earlier variables are gone",
                meta={"reason": "session opened"},
            )
        # Not between a turn and its result, nor under a turn that waits for the user: the
        # event joins the path at the next step (the result, a message, the next turn).
        if self._running or self.pending() is not None:
            self._kernel_events.append(event)
        elif self.writer is not None:  # behind the writes already asked for, in order
            self.writer.submit(self._append_quietly, event)
        else:
            self.session.append(event)

    def _append_quietly(self, event: Event) -> None:
        from core.store.database import StoreError

        try:
            self.session.append(event)
        except StoreError:
            pass  # a note about the kernel; the next write that matters reports the problem

    def _flush_kernel_events(self) -> None:
        for event in self._kernel_events:
            self.session.append(event)
        self._kernel_events.clear()

    # Headless

    async def run_task(
        self,
        text: str,
        approve: Approve | None = None,
        on_text: Callable[[str], None] | None = None,
        on_output: Callable[[OutputEvent], None] | None = None,
    ) -> list[Event]:
        """Drive one task to an answer: what the app does, without a screen.

        `approve` decides on each turn with code; without it, code runs only with `auto`.
        """
        events = [self.say(text)]
        for _ in range(self.config.max_steps):
            turn = await asyncio.to_thread(self.generate_turn, HEAD, "", on_text)
            if turn is None:
                break
            events.append(turn)
            if turn.body.answer is not None:
                break
            decision = approve(turn) if approve else ("run" if self.config.auto else "stop")
            if decision == "run":
                events.append(await self.run(turn.id, on_output))
            elif isinstance(decision, tuple) and decision[0] == "skip":
                events.append(self.reject(turn.id, decision[1]))
            else:
                break
        return events

    # The app's keys: what each one acts on and where its new turn grows

    def edit_target(self) -> Event | None:
        """The turn that an edit replaces: the head, when it is a turn (pending code, an answer,
        a stopped turn)."""
        head = self.head_event()
        return head if head is not None and head.kind == "turn" else None

    def retry_target(self) -> str | None | object:
        """Where a retry grows: beside the head turn (the old one stays as a sibling), or after
        the head when it is a message, a result or a kernel note (simply the model's turn)."""
        head = self.head_event()
        if head is None:
            raise ValueError("nothing to retry yet: send a message first")
        return self.retry_parent(head.id) if head.kind == "turn" else HEAD

    def continuation(self) -> tuple[str | None | object, str, str | None] | None:
        """(parent, prefix, source) of the generation that continues the head: a stopped turn
        resumes from its raw text under the grammar, an unanswered head gets the model's turn;
        None when nothing waits to be continued."""
        stopped = self.stopped()
        if stopped is not None:
            body = stopped.body
            fields = TurnFields(body.thought, code=body.code, answer=body.answer)
            return stopped.parent_id, body.raw or render(fields), body.source
        return (HEAD, "", None) if self.unanswered() is not None else None

    def rethink(self, turn_id: str, thought: str) -> tuple[str | None, str, str]:
        """(parent, prefix, source) of a turn beside `turn_id` that starts from an edited
        thought: the model writes the rest, and the turn is stored as an edit of `turn_id`."""
        parent = self.tree.node(turn_id).parent_id
        return parent, THOUGHT[0] + thought + THOUGHT[1] + SEPARATOR, turn_id

    def keep(
        self,
        generated: GeneratedTurn,
        parent: str | None | object = HEAD,
        source: str | None = None,
        stopped: bool = False,
    ) -> Event | None:
        """Store what a generation wrote: a finished turn, or a cancelled one as a stopped turn
        when the user `stopped` it (else nothing). With a `source`, it is an edit of that turn."""
        origin = "edited" if source else "generated"
        if generated.cancelled:
            return self.keep_stopped(generated, parent, origin, source) if stopped else None
        return self.finish_turn(generated, parent, origin, source)

    def go_to(self, event_id: str) -> Event | None:
        """Move the head to any event (chosen in the branch view); None if it is there."""
        return self.session.move_head(event_id, reason="branch view")
