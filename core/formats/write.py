"""Writing sessions as XML: the kyzel schema, extended so that a branching session round-trips.

    <session format="kyzel-tui" version="1" id=… title=… created=… model=… head=…>
      <events>
        <msg from="user" id=… parent=… at=…>text</msg>
        <thought id=… parent=… at=… origin=… source=… verdict=… reason=… rating=… data=…>…</thought>
        <code><![CDATA[…]]></code>            (or <answer>…</answer>: the rest of the same turn)
        <result id=… parent=… at=… status=… data=…><![CDATA[…]]></result>
        <kernel id=… parent=… at=… state=… data=…>detail</kernel>
      </events>
      <blobs><blob sha256=… mime=…>base64</blob></blobs>
    </session>

A turn is a `<thought>` carrying the turn's attributes followed by its `<code>` or `<answer>`.
Verdicts are attributes of the turn's `<thought>`: `verdict` (accepted / rejected) with `reason`,
and `rating` (up / down), the latest of each. Fields that have no attribute of their own (token
counts, timings, rich outputs, error details, the raw generated text) travel as JSON in `data`.
Head moves are history, not structure: the file carries the head, not how it got there.

Code and outputs are written as CDATA, prose as escaped text, so that exported files stay easy to
read and edit by hand. Text is kept exactly: `]]>` splits a CDATA section, a carriage return is a
character reference, and a body holding characters that XML 1.0 cannot carry at all (NUL, most
control characters) is written as base64 with `enc="base64"`.

This module writes; `core.formats.read` reads, and is its exact inverse for files written here.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Callable, Iterable

from core.events import Event, KernelEvent, Result, Turn, UserMessage
from core.store.database import SessionInfo
from core.tree import SessionTree

FORMAT = "kyzel-tui"
FORMAT_VERSION = "1"
# Characters XML 1.0 cannot hold, even as character references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ATTR_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\n": "&#10;",
        "\r": "&#13;",
        "\t": "&#9;",
    }
)
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def _attr_value(value: str) -> str:
    if _NOT_XML.search(value):
        raise ValueError("attribute holds characters XML cannot carry")
    return value.translate(_ATTR_ESCAPES)


def _attrs(pairs: Iterable[tuple[str, object]]) -> str:
    out = []
    for name, value in pairs:
        if value is None or value == "":
            continue
        out.append(f' {name}="{_attr_value(value if isinstance(value, str) else repr(value))}"')
    return "".join(out)


def _body(text: str, cdata: bool) -> tuple[str, str]:
    """(extra attributes, element content) that carry `text` exactly."""
    if _NOT_XML.search(text):
        encoded = base64.b64encode(text.encode("utf-8", "surrogatepass")).decode("ascii")
        return ' enc="base64"', encoded
    if not text:
        return "", ""
    if cdata and "\r" not in text:
        return "", "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"
    return "", text.translate(_TEXT_ESCAPES)


def _element(tag: str, attrs: str, text: str, cdata: bool = False) -> str:
    extra, content = _body(text, cdata)
    if not content:
        return f"<{tag}{attrs}{extra}/>"
    return f"<{tag}{attrs}{extra}>{content}</{tag}>"


def _data(body: object, names: tuple[str, ...]) -> str | None:
    """The fields `names` of `body` that differ from their defaults, as JSON."""
    defaults = {f.name: f for f in dataclasses.fields(body)}
    kept = {}
    for name in names:
        value, spec = getattr(body, name), defaults[name]
        default = (
            spec.default_factory()
            if spec.default_factory is not dataclasses.MISSING
            else (spec.default)
        )
        if value != default:
            kept[name] = value
    return json.dumps(kept, ensure_ascii=True, sort_keys=True) if kept else None


def _event_xml(event: Event, tree: SessionTree) -> list[str]:
    common = [("id", event.id), ("parent", event.parent_id), ("at", event.at)]
    body = event.body
    match body:
        case UserMessage():
            return [_element("msg", ' from="user"' + _attrs(common), body.text)]
        case Turn():
            decision = tree.decision(event.id) if event.id in tree else None
            attrs = _attrs(
                common
                + [("origin", body.origin), ("source", body.source)]
                + [("verdict", decision.value if decision else None)]
                + [("reason", decision.reason if decision else None)]
                + [("rating", tree.rating(event.id) if event.id in tree else None)]
                + [("data", _data(body, ("raw", "meta")))]
            )
            rest = (
                _element("code", "", body.code, cdata=True)
                if body.code is not None
                else _element("answer", "", body.answer or "")
            )
            return [_element("thought", attrs, body.thought), rest]
        case Result():
            fields = ("error", "outputs", "meta", "execution_count", "duration", "truncated")
            attrs = _attrs(common + [("status", body.status), ("data", _data(body, fields))])
            return [_element("result", attrs, body.output, cdata=True)]
        case KernelEvent():
            attrs = _attrs(common + [("state", body.state), ("data", _data(body, ("meta",)))])
            return [_element("kernel", attrs, body.detail)]
    raise ValueError(f"{event.kind} events are not written as elements")


def _blob_refs(events: Iterable[Event]) -> list[str]:
    refs: list[str] = []
    for event in events:
        if isinstance(event.body, Result):
            refs += [o["blob"] for o in event.body.outputs if "blob" in o and o["blob"] not in refs]
    return refs


def session_to_xml(
    info: SessionInfo,
    tree: SessionTree,
    *,
    branch_only: bool = False,
    blob: Callable[[str], tuple[bytes, str]] | None = None,
) -> str:
    """The session as XML text: the whole tree, or only the path to the head (`branch_only`).

    `blob(sha256) -> (data, mime)` provides the images results refer to.
    """
    nodes = tree.path() if branch_only else tree.nodes()
    head_attr = tree.head
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<session"
        + _attrs(
            [
                ("format", FORMAT),
                ("version", FORMAT_VERSION),
                ("id", info.id),
                ("title", info.title),
                ("created", info.created),
                ("model", info.model),
                ("head", head_attr),
            ]
        )
        + ">",
        "  <events>",
    ]
    for event in nodes:
        lines += ["    " + part for part in _event_xml(event, tree)]
    lines.append("  </events>")
    refs = _blob_refs(nodes)
    if refs and blob is not None:
        lines.append("  <blobs>")
        for sha in refs:
            data, mime = blob(sha)
            encoded = base64.b64encode(data).decode("ascii")
            lines.append(f'    <blob sha256="{sha}"{_attrs([("mime", mime)])}>{encoded}</blob>')
        lines.append("  </blobs>")
    lines.append("</session>")
    return "\n".join(lines) + "\n"
