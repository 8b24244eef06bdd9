"""Reading sessions from XML: our own files exactly, kyzel files faithfully, hostile files never.

Two dialects share the element names:

- **ours** (`<session format="kyzel-tui">`, written by `core.formats.write`): every event carries
  its id, parent and time; bodies are taken exactly as written, so a file round-trips to the same
  tree (`core.formats.ours`).
- **kyzel** (anything else; `core.formats.kyzel`): a flat list of elements, mapped to events in
  order. Bodies lose the blank lines and indentation that frame them in the file. The mapping:

  - the root is `<session>`, or `<root>` in the earliest kyzel files: both hold `<events>`;
  - the sender of a `<msg>` is its `from` attribute, or `role` in the earliest files (`role` is
    read only where `from` is absent; no sender means the user);
  - `<msg from="user">` is a `user` event;
  - a run of `<thought>`, `<action>` and `<msg from="assistant">` ended by a `<code>` is one
    `turn`: the run's texts, in order and separated by a blank line, are the thought, and the
    code is the code;
  - such a run without `<code>`, before a user message or the end, is one `turn` with an answer:
    a closing assistant `<msg>` is the answer and the rest the thought (with no assistant `<msg>`,
    the texts are the thought and the answer is empty); an `<answer>` element ends a run the same
    way, as the answer;
  - a `<result>` (also the empty `<result/>`) after a turn with code is a `result` (status ok)
    under that turn, and an `accepted` verdict on it;
  - `<resume_from from_event_id="X"/>`: what follows continues from the event made of the element
    with `id="X"`, as a new branch.

  Comments and the XML declaration are ignored; any other element is an error.

Every turn read (either dialect) goes through the turn grammar's admission check
(`core.admission`); a turn the grammar refuses (a `<code>` body holding `</code><answer>…`, say)
is imported with `meta["unadmitted"]` holding the reason: shown as such, never trained on.

Safety (`core.formats.encoding`, `core.formats.schema`): only regular files, at most `max_bytes` as
read, UTF-8 or UTF-16, no DTD whatever the encoding; the parser never resolves entities, never
loads a DTD, never touches the network. Attribute values are checked against a schema (times, the
JSON in `data`) and blob hashes against their bytes; an element inside a body (`<b>`, `xi:include`)
is an error, since its text would be lost. Titles and model names lose control and bidi characters
and are cut to 500 characters. A file with any error is refused whole, with `file:line:col` and the
reason; nothing of it reaches the store. `recover=True` first escapes the stray `&` and `<` that
hand-editing leaves in bodies (reporting each fix), losing no character: an element inside a body
is kept as its text, tags included."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.admission import UNADMITTED, refusal
from core.events import Event, EventBody, Turn
from core.formats.encoding import InputError, as_utf8, decode, read_bytes
from core.formats.kyzel import KyzelReader
from core.formats.ours import OursReader
from core.formats.recover import recover_text
from core.formats.schema import (
    KNOWN,
    SchemaError,
    XmlImportError,
    check_time,
)
from core.formats.write import FORMAT
from core.ids import new_id
from core.store.database import TITLE_LIMIT, SessionInfo, Store, StoreError
from core.text import plain_label
from core.tree import SessionTree

MAX_IMPORT_BYTES = 32 * 1024 * 1024


@dataclass
class ParsedSession:
    """A session read from a file, not yet in any store."""

    info: SessionInfo
    events: list[Event]
    blobs: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    fixes: list[str] = field(default_factory=list)
    """What `recover` changed, one `file:line:col: ...` line per fix."""
    dialect: str = "kyzel"


def read_session(path: Path | str, *, recover: bool = False, max_bytes: int = MAX_IMPORT_BYTES):
    """Parse one file into a `ParsedSession`, or raise `XmlImportError`."""
    path = Path(path)
    try:
        data, mtime = read_bytes(path, max_bytes)
    except InputError as error:
        raise XmlImportError(str(error)) from None
    return parse_session(data, name=str(path), recover=recover, default_time=mtime)


def parse_session(
    data: bytes, *, name: str = "<xml>", recover: bool = False, default_time: float | None = None
) -> ParsedSession:
    fixes: list[str] = []
    try:
        data = as_utf8(decode(data, name))
    except InputError as error:
        raise XmlImportError(str(error)) from None
    if recover:
        data, fixes = recover_text(data, name)
    root = _parse(data, name)
    if root.getroottree().docinfo.doctype:  # decode() refused it already; the parser agrees
        raise XmlImportError(f"{name}:1:1: the file has a DTD (<!DOCTYPE ...>): remove it")
    reader = _Reader(name, default_time or time.time())
    parsed = reader.read(root)
    parsed.fixes = fixes
    return parsed


def _parse(data: bytes, name: str):
    from lxml import etree

    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        strip_cdata=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        line, col = error.position if error.position else (error.lineno or 1, 1)
        reason = re.sub(r", line \d+, column \d+$", "", error.msg or "not well-formed XML")
        raise XmlImportError(f"{name}:{line}:{col}: {reason}") from None
    return root


class _Reader:
    """Turns the element list of one `<session>` into events."""

    def __init__(self, name: str, default_time: float):
        self.name = name
        self.clock = default_time
        self.session_id = new_id()
        self.events: list[Event] = []
        self.by_id: dict[str, Event] = {}
        self.element_ids: dict[str, str] = {}  # kyzel element id -> our event id

    def where(self, el) -> str:
        return f"{self.name}:{el.sourceline or 1}:1"

    def fail(self, el, reason: str):
        raise XmlImportError(f"{self.where(el)}: {reason}")

    def time(self, el, name: str) -> float | None:
        try:
            return check_time(el.get(name), name)
        except SchemaError as error:
            self.fail(el, str(error))

    def read(self, root) -> ParsedSession:
        if root.tag not in ("session", "root"):  # <root>: the earliest kyzel files
            self.fail(root, f"the root element is <{root.tag}>, expected <session>")
        children = [c for c in root if isinstance(c.tag, str)]
        for child in children:
            if child.tag not in ("events", "blobs"):
                self.fail(
                    child, f"unknown element <{child.tag}> in <{root.tag}>; expected <events>"
                )
        events_el = root.find("events")
        if events_el is None:
            self.fail(root, f"<{root.tag}> has no <events> element")
        ours = root.tag == "session" and root.get("format") == FORMAT
        if ours:
            self.session_id = root.get("id") or self.session_id
        created = self.time(root, "created")
        created = self.clock if created is None else created
        for el in events_el:
            if not isinstance(el.tag, str):
                continue
            if el.tag not in KNOWN:
                self.fail(el, f"unknown element <{el.tag}>; expected one of {sorted(KNOWN)}")
            for child in el:
                tag = child.tag if isinstance(child.tag, str) else "?"
                self.fail(
                    child,
                    f"element <{tag}> inside <{el.tag}>: a body is text only, and this element's "
                    f"text would be lost; write it escaped (&lt;{tag}&gt;) or import with "
                    "--recover, which keeps it as text",
                )
        if ours:
            OursReader(self).read(events_el)
        else:
            KyzelReader(self).read(events_el)
        head = root.get("head") if ours and root.get("head") else None
        if head is not None and (head not in self.by_id or not self.by_id[head].is_node):
            self.fail(root, f"head={head!r} is not an event of this session")
        if head is None:
            nodes = [e for e in self.events if e.is_node]
            head = nodes[-1].id if nodes else None
        self.mark_unadmitted()
        info = SessionInfo(
            id=self.session_id,
            title=plain_label(root.get("title", ""), TITLE_LIMIT),
            created=created,
            updated=max([created] + [e.at for e in self.events]),
            model=plain_label(root.get("model", ""), TITLE_LIMIT),
            head=head,
            events=len(self.events),
        )
        return ParsedSession(
            info, self.events, self.read_blobs(root), dialect="ours" if ours else "kyzel"
        )

    def mark_unadmitted(self) -> None:
        """Put the grammar's verdict on every turn: the reason it refuses one, or nothing."""
        for event in self.events:
            if isinstance(event.body, Turn):
                reason = refusal(event.body)
                event.body.meta.pop(UNADMITTED, None)
                if reason is not None:
                    event.body.meta[UNADMITTED] = reason

    def read_blobs(self, root) -> dict[str, tuple[bytes, str]]:
        blobs: dict[str, tuple[bytes, str]] = {}
        for el in root.iterfind("blobs/blob"):
            try:
                data = base64.b64decode((el.text or "").strip(), validate=True)
            except ValueError:
                self.fail(el, "the blob is not valid base64")
            sha = el.get("sha256", "")
            if hashlib.sha256(data).hexdigest() != sha.lower():
                self.fail(el, f"the blob's bytes do not have the sha256 it names ({sha[:16]}…)")
            mime = plain_label(el.get("mime", "application/octet-stream"), 200)
            blobs[sha.lower()] = (data, mime)
        return blobs

    def add(
        self,
        el,
        parent_id: str | None,
        body: EventBody,
        event_id: str | None = None,
        at: float | None = None,
    ) -> Event:
        if parent_id is not None and parent_id not in self.by_id:
            self.fail(el, f"parent {parent_id!r} is not an earlier event of this session")
        if parent_id is not None and not self.by_id[parent_id].is_node:
            self.fail(el, f"parent {parent_id!r} is a {self.by_id[parent_id].kind}, not a node")
        event_id = event_id or new_id()
        if event_id in self.by_id:
            self.fail(el, f"id {event_id!r} is used twice")
        if at is None:
            self.clock += 0.001
            at = self.clock
        event = Event(event_id, self.session_id, parent_id, body, at)
        self.events.append(event)
        self.by_id[event_id] = event
        return event


def import_session(store: Store, parsed: ParsedSession) -> tuple[SessionInfo, bool]:
    """Add a parsed session to the store, whole or not at all.

    If its ids are already taken (the file was imported before, or exported from this store), it
    comes in as a copy with fresh ids; the second value says so.
    """
    taken = _exists(store, parsed.info.id) or any(store.has_event(e.id) for e in parsed.events)
    if taken:
        parsed = _with_fresh_ids(parsed)
    SessionTree(parsed.info.id, parsed.events, head=parsed.info.head)  # raises if malformed
    store.insert_session(parsed.info, parsed.events, parsed.blobs)
    return store.session(parsed.info.id), taken


def _exists(store: Store, session_id: str) -> bool:
    try:
        store.session(session_id)
    except StoreError:
        return False
    return True


def _with_fresh_ids(parsed: ParsedSession) -> ParsedSession:
    mapping = {e.id: new_id() for e in parsed.events}
    session_id = new_id()

    def fresh(old: str | None) -> str | None:
        return mapping.get(old, old) if old is not None else None

    events = []
    for event in parsed.events:
        body = event.body
        if isinstance(body, Turn) and body.source:
            body = dataclasses.replace(body, source=fresh(body.source))
        events.append(Event(mapping[event.id], session_id, fresh(event.parent_id), body, event.at))
    info = dataclasses.replace(parsed.info, id=session_id, head=fresh(parsed.info.head))
    return dataclasses.replace(parsed, info=info, events=events)
