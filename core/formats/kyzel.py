"""The kyzel dialect: a flat list of elements, mapped to events (table in `core.formats.read`)."""

from __future__ import annotations

from typing import Any

from core.events import Event, EventBody, KernelEvent, Result, Turn, UserMessage, Verdict


class KyzelReader:
    """A flat element list, mapped to events as `core.formats.read`'s docstring says."""

    def __init__(self, reader: Any):
        """`reader` is `core.formats.read`'s reader: it makes the events and knows the file."""
        self.r = reader
        self.cursor: str | None = None
        self.parts: list[tuple[str, str]] = []
        self.parts_el = None
        self.part_ids: list[str] = []
        self.awaiting_result: Event | None = None

    def read(self, events_el) -> None:
        for el in events_el:
            if not isinstance(el.tag, str):
                continue
            getattr(self, f"on_{el.tag}")(el)
        self.flush()

    def emit(self, el, body: EventBody) -> Event:
        event = self.r.add(el, self.cursor, body)
        for element_id in self.part_ids + [el.get("id")]:
            if element_id:
                self.r.element_ids[element_id] = event.id
        self.cursor = event.id
        return event

    def flush(self, answer: str | None = None, el=None) -> None:
        """Close a run of assistant texts with no code as a turn with an answer."""
        if not self.parts and answer is None:
            return
        parts = list(self.parts)
        if answer is None:
            answer = parts.pop()[1] if parts and parts[-1][0] == "msg" else ""
        thought = "\n\n".join(text for _, text in parts)
        self.emit(
            el if el is not None else self.parts_el, Turn(thought, answer=answer, origin="imported")
        )
        self.parts, self.parts_el, self.part_ids, self.awaiting_result = [], None, [], None

    def on_msg(self, el) -> None:
        # The earliest kyzel files name the sender with `role`; later ones with `from`.
        attribute = "from" if el.get("from") is not None or el.get("role") is None else "role"
        sender = el.get(attribute, "user")
        if sender == "assistant":
            self.add_part(el, "msg")
        elif sender == "user":
            self.flush()
            self.awaiting_result = None
            self.emit(el, UserMessage((el.text or "").strip()))
        else:
            self.r.fail(
                el, f'<msg {attribute}="{sender}">: expected {attribute}="user" or "assistant"'
            )

    def add_part(self, el, kind: str) -> None:
        if self.parts_el is None:
            self.parts_el = el
        self.part_ids.append(el.get("id"))
        self.parts.append((kind, (el.text or "").strip()))
        self.awaiting_result = None

    def on_thought(self, el) -> None:
        self.add_part(el, "thought")

    def on_action(self, el) -> None:
        self.add_part(el, "action")

    def on_code(self, el) -> None:
        thought = "\n\n".join(text for _, text in self.parts)
        code = (el.text or "").strip("\r\n").rstrip()
        turn = self.emit(el, Turn(thought, code=code, origin="imported"))
        self.parts, self.parts_el, self.part_ids = [], None, []
        self.awaiting_result = turn

    def on_answer(self, el) -> None:
        self.flush(answer=(el.text or "").strip(), el=el)

    def on_result(self, el) -> None:
        turn = self.awaiting_result
        if turn is None:
            self.r.fail(el, "<result> must follow the <code> it is the result of")
        output = (el.text or "").strip("\r\n").rstrip()
        self.emit(el, Result(status="ok", output=output))
        self.r.add(el, turn.id, Verdict("accepted"), at=turn.at)
        self.awaiting_result = None

    def on_kernel(self, el) -> None:
        self.flush()
        self.emit(
            el, KernelEvent(state=el.get("state", "restarted"), detail=(el.text or "").strip())
        )

    def on_resume_from(self, el) -> None:
        target = el.get("from_event_id")
        if not target:
            self.r.fail(el, "<resume_from> needs a from_event_id attribute")
        self.flush()
        event_id = self.r.element_ids.get(target)
        if not event_id:
            self.r.fail(el, f"from_event_id={target!r} names no earlier element with that id")
        self.cursor = event_id
        self.awaiting_result = None
