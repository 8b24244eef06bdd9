"""Our own dialect (`format="kyzel-tui"`): ids, parents and times as written, bodies exact.

What `core.formats.write` writes, read back: a `<thought>` followed by its `<code>` or `<answer>`
is one turn (its verdict and rating in attributes, its raw text and meta in `data`), and `<msg>`,
`<result>` and `<kernel>` are one event each. A body written `enc="base64"` (text XML cannot
hold) is decoded; every attribute value is checked against `core.formats.schema`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from core.events import Event, EventBody, KernelEvent, Result, Turn, UserMessage, Verdict
from core.formats.schema import SchemaError, check_meta, check_result, check_turn, load_data
from core.formats.write import FORMAT


def body_text(reader: Any, el) -> str:
    """A body exactly as our writer wrote it."""
    text = el.text or ""
    if el.get("enc") == "base64":
        try:
            return base64.b64decode(text, validate=True).decode("utf-8", "surrogatepass")
        except (binascii.Error, ValueError) as error:
            reason = "not UTF-8" if isinstance(error, UnicodeDecodeError) else "not valid base64"
            reader.fail(el, f'the enc="base64" body is {reason}')
    if el.get("enc") is not None:
        reader.fail(el, f'unknown enc="{el.get("enc")}"; expected enc="base64"')
    return text


class OursReader:
    """Our dialect: ids, parents and times as written; bodies exact."""

    def __init__(self, reader: Any):
        """`reader` is `core.formats.read`'s reader: it makes the events and knows the file."""
        self.r = reader

    def read(self, events_el) -> None:
        elements = [el for el in events_el if isinstance(el.tag, str)]
        i = 0
        while i < len(elements):
            el = elements[i]
            if el.tag == "thought":
                if i + 1 >= len(elements) or elements[i + 1].tag not in ("code", "answer"):
                    self.r.fail(el, "<thought> must be followed by its <code> or <answer>")
                self.turn(el, elements[i + 1])
                i += 2
                continue
            if el.tag == "msg" and el.get("from", "user") == "user":
                self.node(el, UserMessage(text=body_text(self.r, el)))
            elif el.tag == "result":
                self.node(el, self.result(el))
            elif el.tag == "kernel":
                data = self.data(el)
                self.node(
                    el,
                    self.body(
                        el,
                        KernelEvent,
                        state=el.get("state", ""),
                        detail=body_text(self.r, el),
                        meta=data.get("meta", {}),
                    ),
                )
            else:
                self.r.fail(el, f"<{el.tag}> is not expected here in a {FORMAT} file")
            i += 1

    def data(self, el, check=check_meta) -> dict:
        try:
            data = load_data(el.get("data"))
            check(data)
        except SchemaError as error:
            self.r.fail(el, str(error))
        return data

    def body(self, el, cls, **fields):
        try:
            return cls(**fields)
        except (TypeError, ValueError) as error:
            self.r.fail(el, str(error))

    def node(self, el, body: EventBody) -> Event:
        event_id = el.get("id")
        if not event_id:
            self.r.fail(el, f"<{el.tag}> has no id attribute")
        at = self.r.time(el, "at")
        return self.r.add(el, el.get("parent"), body, event_id, at)

    def result(self, el) -> Result:
        data = self.data(el, check_result)
        return self.body(
            el,
            Result,
            status=el.get("status", "ok"),
            output=body_text(self.r, el),
            error=data.get("error"),
            outputs=data.get("outputs", []),
            execution_count=data.get("execution_count"),
            duration=data.get("duration"),
            truncated=data.get("truncated", 0),
            meta=data.get("meta", {}),
        )

    def turn(self, thought_el, rest_el) -> None:
        data = self.data(thought_el, check_turn)
        rest = body_text(self.r, rest_el)
        body = self.body(
            thought_el,
            Turn,
            thought=body_text(self.r, thought_el),
            code=rest if rest_el.tag == "code" else None,
            answer=rest if rest_el.tag == "answer" else None,
            origin=thought_el.get("origin", "generated"),
            source=thought_el.get("source"),
            raw=data.get("raw"),
            meta=data.get("meta", {}),
        )
        event = self.node(thought_el, body)
        verdicts = []
        if thought_el.get("verdict"):
            verdicts.append((thought_el.get("verdict"), thought_el.get("reason", "")))
        if thought_el.get("rating"):
            verdicts.append((thought_el.get("rating"), ""))
        for value, reason in verdicts:
            verdict = self.body(thought_el, Verdict, value=value, reason=reason)
            self.r.add(thought_el, event.id, verdict, at=event.at)
