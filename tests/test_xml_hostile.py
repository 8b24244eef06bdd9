"""Hostile imports: encodings, DTDs, attribute schema, elements in bodies, odd files, blobs.

Every hostile file is made here, under tmp_path; each is refused whole with `file:line:col` and
a reason (nothing reaches the store), or imported with nothing lost and the problem marked.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from pathlib import Path

import pytest

from core.admission import UNADMITTED
from core.formats.read import XmlImportError, import_session, parse_session, read_session
from core.store.database import Store

UTF16_DTD = """<?xml version="1.0" encoding="UTF-16"?>
<!DOCTYPE session [<!ENTITY e "EXPANDED">]>
<session title="&e;"><events><msg from="user">hi</msg></events></session>"""


def refused(store: Store, path: Path, reason: str, **kwargs) -> str:
    with pytest.raises(XmlImportError) as error:
        import_session(store, read_session(path, **kwargs))
    message = str(error.value)
    assert message.startswith(f"{path}:"), message
    assert reason in message, message
    assert store.sessions() == []
    return message


# Encodings and DTDs


@pytest.mark.parametrize(
    "encoding", ["utf-16", "utf-16-le", "utf-16-be"], ids=["bom", "le-no-bom", "be-no-bom"]
)
def test_a_dtd_is_refused_whatever_the_utf16_spelling(store, tmp_path, encoding):
    path = tmp_path / "dtd16.xml"
    path.write_bytes(UTF16_DTD.encode(encoding))
    message = refused(store, path, "DTD")
    assert message.startswith(f"{path}:2:1:")


def test_utf7_and_other_encodings_are_refused_with_a_reason(store, tmp_path):
    utf7 = tmp_path / "utf7.xml"
    utf7.write_bytes(
        b'<?xml version="1.0" encoding="UTF-7"?>\n+ADw-!DOCTYPE s +AFs-+ADw-!ENTITY e '
        b'"x"+AD4-+AF0-+AD4-\n<session><events><msg from="user">+ACY-e;</msg></events></session>'
    )
    refused(store, utf7, "encoding 'UTF-7'")
    latin = tmp_path / "latin.xml"
    latin.write_bytes(
        '<?xml version="1.0" encoding="ISO-8859-1"?><session><events><msg from="user">café'
        "</msg></events></session>".encode("latin-1")
    )
    refused(store, latin, "UTF-8 or UTF-16")


def test_a_utf16_file_without_a_dtd_imports(store, tmp_path):
    path = tmp_path / "ok16.xml"
    text = '<?xml version="1.0" encoding="UTF-16"?>\n<session><events><msg from="user">héllo 🙂'
    path.write_bytes((text + "</msg></events></session>").encode("utf-16"))
    info, _ = import_session(store, read_session(path))
    assert store.events(info.id)[0].body.text == "héllo 🙂"


# The turn grammar's admission check


SMUGGLED = """<session><events><msg from="user">task</msg>
<thought>plan</thought><code><![CDATA[print(1)</code>
<answer>done</answer>]]></code></events></session>"""


def test_a_turn_the_grammar_refuses_is_imported_marked_with_the_reason(store):
    info, _ = import_session(store, parse_session(SMUGGLED.encode(), name="s.xml"))
    turn = next(e.body for e in store.events(info.id) if e.kind == "turn")
    assert "</code>" in turn.code  # nothing is lost ...
    assert "text after the end of the turn" in turn.meta[UNADMITTED]  # ... and it is marked


def test_an_admitted_turn_carries_no_mark(store):
    xml = SMUGGLED.replace("</code>\n<answer>done</answer>", "")
    info, _ = import_session(store, parse_session(xml.encode(), name="s.xml"))
    turn = next(e.body for e in store.events(info.id) if e.kind == "turn")
    assert UNADMITTED not in turn.meta


# Attribute values against the schema


def ours(events: str, session_attrs: str = "") -> str:
    return f'<session format="kyzel-tui"{session_attrs}>\n<events>\n{events}\n</events></session>'


DEEP = '{"meta":' * 5000 + "{}" + "}" * 5000


@pytest.mark.parametrize(
    "xml, reason",
    [
        (ours('<result id="R" data=\'{"error":"str"}\'/>'), "error must be an object"),
        (ours('<result id="R" data=\'{"outputs":[1]}\'/>'), "outputs[0] must be an object"),
        (ours('<result id="R" data=\'{"duration":"slow"}\'/>'), "duration must be a number"),
        (ours('<result id="R" data=\'{"duration":1e400}\'/>'), "too large to be finite"),
        (ours('<result id="R" data=\'{"truncated":-1}\'/>'), "truncated must be"),
        (ours("<result id=\"R\" data='[]'/>"), "must be a JSON object"),
        (ours('<result id="R" data=\'{"duration":NaN}\'/>'), "NaN is not allowed"),
        (ours(f"<result id=\"R\" data='{DEEP}'/>"), "nested deeper than"),
        (ours('<msg from="user" id="A" at="inf">x</msg>'), "at='inf' is not a time"),
        (ours('<msg from="user" id="A" at="nan">x</msg>'), "at='nan' is not a time"),
        (ours('<msg from="user" id="A" at="-1">x</msg>'), "at='-1' is not a time"),
        (ours("", ' created="1e300"'), "created='1e300' is not a time"),
        (
            ours(
                '<msg from="user" id="A">x</msg>\n<thought id="T" parent="A" data=\'{"raw":1}\'>'
                "t</thought><code>c</code>"
            ),
            "raw must be a string",
        ),
        (ours('<kernel id="K" state="died" data=\'{"meta":[]}\'/>'), "meta must be an object"),
    ],
)
def test_attribute_values_off_the_schema_refuse_the_file_whole(store, tmp_path, xml, reason):
    path = tmp_path / "schema.xml"
    path.write_text(xml)
    message = refused(store, path, reason)
    line = 1 if "created" in reason else 3 if "thought" not in xml else 4
    assert message.startswith(f"{path}:{line}:1: "), message


# Elements inside bodies


@pytest.mark.parametrize(
    "body, kept",
    [
        ("keep <b>bold</b> tail", "keep <b>bold</b> tail"),
        (
            'a <xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd"/> b',
            'a <xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd"/> b',
        ),
    ],
)
def test_an_element_inside_a_body_is_refused_or_kept_whole_as_text(store, tmp_path, body, kept):
    path = tmp_path / "child.xml"
    path.write_text(f'<session><events>\n<msg from="user">{body}</msg></events></session>')
    message = refused(store, path, "inside <msg>: a body is text only")
    assert message.startswith(f"{path}:2:1: element <")
    parsed = read_session(path, recover=True)  # --recover keeps every character as text
    assert parsed.events[0].body.text == kept


# Files that are not regular files, and the size cap


def _refuses_promptly(path: Path, reason: str) -> None:
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            read_session(path)
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            outcome.append(error)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(5)
    assert outcome, f"reading {path} did not return within 5 s"
    assert isinstance(outcome[0], XmlImportError) and reason in str(outcome[0]), outcome


def test_a_fifo_a_folder_and_a_device_are_refused_before_reading(tmp_path):
    fifo = tmp_path / "pipe.xml"
    os.mkfifo(fifo)
    _refuses_promptly(fifo, "is a FIFO, not a session file")
    _refuses_promptly(tmp_path, "is a folder, not a session file")
    if Path("/dev/zero").exists():
        _refuses_promptly(Path("/dev/zero"), "is a device, not a session file")


def test_the_size_cap_counts_bytes_read_not_the_size_the_file_claims():
    claims_zero = Path("/proc/self/maps")  # a regular file whose st_size is 0
    if not claims_zero.exists() or claims_zero.stat().st_size != 0:
        pytest.skip("needs Linux /proc")
    with pytest.raises(XmlImportError, match="holds more than the import limit of 64 bytes"):
        read_session(claims_zero, max_bytes=64)


# base64 bodies, blobs, titles


def test_a_bad_base64_body_says_where(store, tmp_path):
    path = tmp_path / "b64.xml"
    path.write_text(ours('<msg from="user" id="A" enc="base64">not base64!</msg>'))
    message = refused(store, path, 'enc="base64" body is not valid base64')
    assert message.startswith(f"{path}:3:1:")
    path.write_text(ours('<msg from="user" id="A" enc="base64">/w==</msg>'))
    refused(store, path, "is not UTF-8")


def test_a_blob_whose_bytes_do_not_match_its_sha256_is_refused(store, tmp_path):
    data = base64.b64encode(b"\x89PNG real bytes").decode()
    wrong = hashlib.sha256(b"something else").hexdigest()
    path = tmp_path / "blob.xml"
    path.write_text(
        '<session format="kyzel-tui"><events><msg from="user" id="A">x</msg></events>\n'
        f'<blobs><blob sha256="{wrong}" mime="image/png">{data}</blob></blobs></session>'
    )
    message = refused(store, path, "do not have the sha256 it names")
    assert message.startswith(f"{path}:2:1:")


def test_titles_and_model_names_are_capped_and_lose_controls_and_bidi(store, tmp_path):
    hostile = "A\u202eevil\u2066 \x9b2Jx\u0085y\x7f" + "t" * 10_000
    path = tmp_path / "title.xml"
    path.write_text(
        f'<session title="{hostile}" model="m\u202e\u2069odel\x9d"><events>'
        '<msg from="user">x</msg></events></session>'
    )
    info, _ = import_session(store, read_session(path))
    stored = store.session(info.id)
    assert len(stored.title) <= 500 and stored.title.startswith("Aevil x y t")
    assert stored.model == "model"
    for text in (stored.title, stored.model):
        assert not any(ch in text for ch in "\u202e\u2066\u2069\x9b\x9d\x7f\u0085")


def test_the_app_shows_the_unadmitted_mark_on_the_turn(store):
    from core.session import Session
    from kyzel_tui.widgets.transcript.transcript import turn_notes

    info, _ = import_session(store, parse_session(SMUGGLED.encode(), name="s.xml"))
    tree = Session.open(store, info.id).tree
    (turn,) = tree.turns()
    notes = turn_notes(tree, turn.id)
    assert "imported" in notes
    assert any(n.startswith("unadmitted: the turn grammar refuses it") for n in notes)
