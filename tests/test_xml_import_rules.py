"""Import rules: the kyzel mapping table, and hostile or broken files refused whole."""

from __future__ import annotations

import time

import pytest

from core.events import Turn
from core.formats.read import XmlImportError, import_session, parse_session, read_session
from core.session import Session
from core.tree import SessionTree


def tree_of(xml: str) -> SessionTree:
    parsed = parse_session(xml.encode("utf-8"), name="t.xml")
    return SessionTree(parsed.info.id, parsed.events, head=parsed.info.head)


def kyzel(body: str) -> str:
    return f"<?xml version='1.0'?>\n<!-- a comment -->\n<session><events>{body}</events></session>"


def test_assistant_msg_without_code_is_an_answer_turn():
    tree = tree_of(
        kyzel(
            '<msg from="user">hi</msg><thought>greet back</thought>'
            '<msg from="assistant">Hello!</msg>'
            '<msg from="user">bye</msg>'
        )
    )
    user, turn, user2 = tree.path()
    assert turn.body == Turn("greet back", answer="Hello!", origin="imported")
    assert user2.body.text == "bye"


def test_thought_with_no_code_before_a_user_message_keeps_its_text():
    tree = tree_of(kyzel('<msg from="user">hi</msg><thought>hmm</thought><msg from="user">?</msg>'))
    assert tree.path()[1].body == Turn("hmm", answer="", origin="imported")


def test_action_and_assistant_msg_join_the_thought_in_order():
    tree = tree_of(
        kyzel(
            '<msg from="user">go</msg><msg from="assistant">Plan</msg><thought>first</thought>'
            "<action>Checking memory</action><code>\n  x = 1\n</code><result/>"
        )
    )
    turn = tree.path()[1].body
    assert turn.thought == "Plan\n\nfirst\n\nChecking memory"
    assert turn.code == "  x = 1"  # framing blank lines go, indentation stays


def test_resume_from_starts_a_new_branch_at_the_named_element():
    tree = tree_of(
        kyzel(
            '<msg from="user" id="u1">go</msg>'
            '<thought id="t1">a</thought><code id="c1">1</code><result id="r1">1</result>'
            "<thought>b</thought><code>2</code><result>2</result>"
            '<resume_from from_event_id="r1"/>'
            "<thought>c</thought><code>3</code>"
        )
    )
    turns = tree.turns()
    assert [t.body.code for t in turns] == ["1", "2", "3"]
    assert turns[1].parent_id == turns[2].parent_id  # 2 and 3 are siblings after result r1
    assert tree.head == turns[2].id
    assert len(tree.leaves()) == 2


@pytest.mark.parametrize(
    "xml, reason",
    [
        (kyzel("<foo/>"), r"t\.xml:3:1: unknown element <foo>"),
        ("<session><talk/></session>", r"unknown element <talk>"),
        ("<notes/>", r"root element is <notes>"),
        (kyzel("<result>x</result>"), r"must follow the <code>"),
        (kyzel('<resume_from from_event_id="nope"/>'), r"names no earlier element"),
        (kyzel('<msg from="robot">x</msg>'), r'from="robot"'),
        (
            '<session format="kyzel-tui"><events><msg from="user" id="A" parent="Z">x</msg>'
            "</events></session>",
            r"parent 'Z' is not an earlier event",
        ),
        (
            '<session format="kyzel-tui"><events><thought id="A">x</thought></events></session>',
            r"must be followed by its <code> or <answer>",
        ),
        (
            '<session format="kyzel-tui"><events><result id="A" status="weird"/></events>'
            "</session>",
            r"unknown result status",
        ),
        (
            '<session format="kyzel-tui" head="Q"><events><msg from="user" id="A">x</msg></events>'
            "</session>",
            r"head='Q' is not an event",
        ),
        ("<session><events><msg from='user'>unclosed</events></session>", r"t\.xml:1:\d+: "),
    ],
)
def test_invalid_files_are_refused_with_position_and_reason(xml, reason):
    with pytest.raises(XmlImportError, match=reason):
        parse_session(xml.encode("utf-8"), name="t.xml")


XXE = """<?xml version="1.0"?>
<!DOCTYPE session [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<session><events><msg from="user">&xxe;</msg></events></session>"""

LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<session><events><msg from="user">&lol9;</msg></events></session>"""

EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE session SYSTEM "http://127.0.0.1:9/evil.dtd">
<session><events><msg from="user">hi</msg></events></session>"""


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("xxe.xml", XXE.encode(), "DTD"),
        ("laughs.xml", LAUGHS.encode(), "DTD"),
        ("dtd.xml", EXTERNAL_DTD.encode(), "DTD"),
        (
            "bad-utf8.xml",
            b'<session><events><msg from="user">caf\xe9 \xff</msg></events></session>',
            r"bad-utf8\.xml:1:\d+: .*(UTF-8|encoding|Input is not proper)",
        ),
        ("empty.xml", b"", r"empty\.xml:1:1: "),
        ("binary.xml", bytes(range(256)), r"binary\.xml:\d+:\d+: "),
    ],
)
@pytest.mark.parametrize("recover", [False, True])
def test_hostile_files_are_refused_and_nothing_is_imported(
    store, tmp_path, name, content, reason, recover
):
    path = tmp_path / name
    path.write_bytes(content)
    started = time.monotonic()
    with pytest.raises(XmlImportError, match=reason):
        import_session(store, read_session(path, recover=recover))
    assert time.monotonic() - started < 5, "refusing must not expand anything"
    assert store.sessions() == []


def test_an_undefined_entity_is_refused_and_recover_keeps_it_as_text(store, tmp_path):
    path = tmp_path / "entity.xml"
    path.write_bytes(b'<session><events><msg from="user">&nope;</msg></events></session>')
    with pytest.raises(XmlImportError, match=r"entity\.xml:1:\d+: Entity 'nope' not defined$"):
        read_session(path)
    parsed = read_session(path, recover=True)
    assert parsed.events[0].body.text == "&nope;"


def test_xxe_never_reads_the_file_it_names(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    path = tmp_path / "xxe.xml"
    path.write_text(XXE.replace("/etc/passwd", str(secret)))
    with pytest.raises(XmlImportError) as error:
        read_session(path)
    assert "TOP-SECRET" not in str(error.value)


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(store, tmp_path):
    path = tmp_path / "huge.xml"
    with path.open("wb") as f:
        f.write(b"<session><events>")
        f.truncate(100 * 2**20)
    with pytest.raises(XmlImportError, match=r"huge\.xml:1:1: the file is 100\.0 MiB"):
        read_session(path)
    assert store.sessions() == []


def test_recover_escapes_stray_lt_and_cdata_end_and_reports_each(store, tmp_path):
    path = tmp_path / "hand.xml"
    path.write_text(
        kyzel(
            '<msg from="user">is 1 < 2 & 3 > 2?</msg><thought>check</thought>'
            "<code>print(1 < 2 and 'a]]>b' and \"<div>\")</code><result>True</result>"
        )
    )
    with pytest.raises(XmlImportError):
        read_session(path)
    parsed = read_session(path, recover=True)
    assert len(parsed.fixes) == 5
    assert parsed.fixes[0].endswith("hand.xml:3:40: escaped a stray '<' as &lt;")
    info, _ = import_session(store, parsed)
    session = Session.open(store, info.id)
    user, turn, _ = session.tree.path()
    assert user.body.text == "is 1 < 2 & 3 > 2?"
    assert turn.body.code == "print(1 < 2 and 'a]]>b' and \"<div>\")"


# The earliest kyzel files: <root><events>, and role= as well as from= on <msg>

OLD_KYZEL = """<?xml version="1.0" encoding="utf-8"?>
<root>
  <events>
    <msg role="user">
      What is in this folder?
    </msg>
    <msg role="assistant">
      Let me list it.
    </msg>
    <code>import os
print(os.listdir("."))</code>
    <result>['a.txt']</result>
    <msg from="assistant">There is one file, a.txt.</msg>
    <msg role="user">Thanks</msg>
    <msg role="assistant">Glad to help.</msg>
    <msg role="assistant">Anything else?</msg>
  </events>
</root>
"""


@pytest.mark.parametrize("recover", [False, True])
def test_old_kyzel_files_import_with_assistant_messages_as_turns(store, tmp_path, recover):
    path = tmp_path / "old.xml"
    path.write_text(OLD_KYZEL)
    info, _ = import_session(store, read_session(path, recover=recover))
    session = Session.open(store, info.id)
    path_bodies = [e.body for e in session.tree.path()]
    kinds = [e.kind for e in session.tree.path()]
    assert kinds == ["user", "turn", "result", "turn", "user", "turn"]
    assert path_bodies[0].text == "What is in this folder?"
    # An assistant message before <code> is the thought, as a <thought> would be.
    assert path_bodies[1] == Turn("Let me list it.", code=path_bodies[1].code, origin="imported")
    assert path_bodies[1].code.startswith("import os")
    assert session.tree.decision(session.tree.path()[1].id).value == "accepted"
    # A closing assistant message with no code is the answer; the run before it the thought.
    assert (path_bodies[3].thought, path_bodies[3].answer) == ("", "There is one file, a.txt.")
    assert (path_bodies[5].thought, path_bodies[5].answer) == ("Glad to help.", "Anything else?")
    assert path_bodies[4].text == "Thanks"


def test_old_kyzel_sender_errors_name_the_attribute():
    with pytest.raises(XmlImportError, match=r't\.xml:1:1: <msg role="robot">: expected role='):
        tree_of('<root><events><msg role="robot">x</msg></events></root>')
    with pytest.raises(XmlImportError, match=r"the root element is <html>"):
        tree_of("<html><events/></html>")
