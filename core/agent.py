"""The agent: the loop of a task, and the one place where user actions become events.

user message -> stream a turn -> the user's verdict -> run the code -> store the result -> next
turn, until the model answers or the user speaks. Each method does one step and commits its events
before it returns, so a crash loses nothing that a caller was told is done. The caller drives:
the app binds the steps to keys, a script or a test calls `run_task`, which chains them.

Generation runs in a worker thread (`core.generate`); code runs in the kernel through asyncio
(`core.kernel`). The agent knows nothing of Textual.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.chat import path_messages
from core.events import Event, KernelEvent, Turn, UserMessage
from core.generate import GeneratedTurn, Generation, Sampling, start_generation
from core.kernel import KernelRunner, OutputEvent
from core.session import HEAD, Session

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
        """A `core.models.LoadedModel` (None until it is loaded)."""
        self.runner = runner
        self.config = config or AgentConfig()
        self._running = False
        self._kernel_events: list[KernelEvent] = []
        # A kernel that starts for a session with a past has lost that past's variables.
        self._had_history = bool(session.tree.nodes())
        if runner is not None:
            runner.on_kernel_event = self._record_kernel_event
            if runner.put_blob is None:
                runner.put_blob = session.store.put_blob

    # Reading

    @property
    def tree(self):
        return self.session.tree

    def rejections(self, path: list[Event]) -> dict[str, str]:
        out = {}
        for event in path:
            if event.kind == "turn":
                decision = self.tree.decision(event.id)
                if decision is not None and decision.value == "rejected":
                    out[event.id] = decision.reason
        return out

    def messages(self, upto: str | None) -> list[dict[str, str]]:
        """The chat the model sees for a turn after `upto` (None: a turn that starts a session)."""
        path = self.tree.path(upto) if upto is not None else []
        return path_messages(path, rejections=self.rejections(path))

    def pending(self) -> Event | None:
        """The head, when it is a turn with code that nobody has judged or run yet."""
        head = self.tree.head
        if head is None:
            return None
        event = self.tree.node(head)
        if event.kind != "turn" or event.body.code is None:
            return None
        if self.tree.decision(head) is not None or self.tree.children(head):
            return None
        return event

    # Writing

    def say(self, text: str) -> Event:
        """A user message at the head (also in the middle of a task)."""
        self._flush_kernel_events()
        return self.session.append(UserMessage(text))

    def start_turn(self, parent: str | None | object = HEAD, prefix: str = "") -> Generation:
        """Start generating a turn after `parent` (default: the head); finish with `finish_turn`."""
        if self.model is None:
            raise RuntimeError("no model is loaded yet")
        if parent is HEAD:
            self._flush_kernel_events()
        upto = self.tree.head if parent is HEAD else parent
        return start_generation(
            self.model.model,
            self.model.tokenizer,
            self.messages(upto),
            self.config.sampling,
            prefix=prefix,
        )

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
        meta = {
            "model": getattr(self.model, "model_id", None),
            "adapter": getattr(self.model, "adapter", None),
            "sampling": generated.settings,
            "stats": generated.stats.as_dict(),
        }
        turn = Turn(
            fields.thought,
            code=fields.code,
            answer=fields.answer,
            origin=origin,
            source=source,
            meta=meta,
        )  # type: ignore[arg-type]
        return self.session.append(turn, parent=parent)

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
        """Run a turn's code (accepting it first if needed) and store the result under it."""
        if self.runner is None:
            raise RuntimeError("no kernel")
        turn = self.tree.node(turn_id)
        if turn.body.code is None:
            raise ValueError("this turn has no code to run")
        decision = self.tree.decision(turn_id)
        if decision is None or decision.value != "accepted":
            self.accept(turn_id)
        self._running = True
        try:
            result = await self.runner.execute(turn.body.code, on_output=on_output)
        finally:
            self._running = False
        stored = self.session.append(result, parent=turn_id)
        # What happened to the kernel while the code ran follows the result on the path.
        self._flush_kernel_events()
        return stored

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
        else:
            self.session.append(event)

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
