"""Rows from recorded corrections, and the loss mask, checked token by token."""

from __future__ import annotations

import pytest

from core.chat import PREFIX, turn_text
from core.events import Exclusion, Result, Turn, UserMessage
from core.session import Session
from training.datasets import (
    render_with_mask,
    session_rows,
    show_mask,
    split_sessions,
    turn_quality,
)


def accepted(session: Session, thought: str, code: str, output: str = "ok"):
    turn = session.append(Turn(thought, code=code))
    session.judge(turn.id, "accepted")
    session.append(Result(output=output))
    return turn


def test_the_loss_mask_covers_exactly_the_good_assistant_turns(store, tiny):
    tokenizer = tiny[1]
    session = Session.create(store)
    session.append(UserMessage("count the files"))
    first = accepted(session, "list them", "import os\nprint(len(os.listdir()))", "12")
    skipped = session.append(Turn("delete them", code="!rm -rf *"))
    session.judge(skipped.id, "rejected", "never delete")
    answer = session.append(Turn("done", answer="There are 12 files."))
    rows = session_rows(store.session(session.id), session.tree)
    (row,) = rows.sft
    head = len(PREFIX)  # the system message and the examples: never trained on
    assert row["messages"][:head] == list(PREFIX) and not any(row["trainable"][:head])
    assert [m["role"] for m in row["messages"][head:]] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert row["trainable"][head:] == [False, True, False, False, False, True]
    ids, mask = render_with_mask(tokenizer, row["messages"], row["trainable"])
    assert len(ids) == len(mask)
    trained = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m])
    end = "<|im_end|>\n"
    assert trained == turn_text(first.body) + end + turn_text(answer.body) + end
    untrained = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if not m])
    assert turn_text(skipped.body) in untrained and "count the files" in untrained
    shown = show_mask(tokenizer, ids, mask)
    assert f"⟦{turn_text(first.body)}{end}⟧" in shown


def test_preference_pairs_for_retry_edit_rejection_and_rollback(store):
    session = Session.create(store)
    user = session.append(UserMessage("plot sales"))
    retried_away = session.append(Turn("first try", code="df.plot()"))
    kept = session.append(Turn("second try", code="plt.plot(df)"), parent=user.id)
    session.judge(kept.id, "accepted")
    result = session.append(Result(output="ok"))
    original = session.append(Turn("save it", code="plt.savefig('x')"))
    edited = session.append(
        Turn("save it as png", code="plt.savefig('x.png')", origin="edited", source=original.id),
        parent=result.id,
    )
    session.judge(edited.id, "accepted")
    rejected = session.append(Turn("delete data", code="!rm data.csv"), parent=result.id)
    session.judge(rejected.id, "rejected", "keep the data")
    session.move_head(user.id, reason="rollback")  # a rollback leaves its branch as it was
    rows = session_rows(store.session(session.id), session.tree)
    pairs = {(p["chosen_id"], p["rejected_id"], p["kind"]) for p in rows.preference}
    assert (kept.id, retried_away.id, "retry") in pairs
    assert (edited.id, original.id, "edit") in pairs
    assert (edited.id, rejected.id, "rejection") in pairs
    assert len(pairs) == 3
    pair = next(p for p in rows.preference if p["kind"] == "edit")
    assert pair["chosen"] == turn_text(edited.body) and pair["rejected"] == turn_text(original.body)
    assert pair["prompt"][-1]["content"].startswith("<result>")
    assert turn_quality(session.tree, retried_away.id) == "bad"
    assert turn_quality(session.tree, original.id) == "bad"


def test_ratings_give_kto_rows(store):
    session = Session.create(store)
    session.append(UserMessage("hi"))
    good = session.append(Turn("greet", answer="Hello!"))
    session.judge(good.id, "up")
    bad = session.append(Turn("rude", answer="Go away."), parent=good.parent_id)
    session.judge(bad.id, "down")
    rows = session_rows(store.session(session.id), session.tree)
    assert {(r["turn_id"], r["label"]) for r in rows.kto} == {(good.id, True), (bad.id, False)}


def test_excluded_turns_and_sessions_are_in_no_row(store):
    session = Session.create(store)
    root = session.append(UserMessage("my password is hunter2"))
    turn = accepted(session, "noted", "print('hunter2')")
    session.append(Exclusion("turn"), parent=turn.id)
    rows = session_rows(store.session(session.id), session.tree)
    assert rows.sft == [] and rows.preference == []
    session.append(Exclusion("turn", excluded=False), parent=turn.id)
    assert len(session_rows(store.session(session.id), session.tree).sft) == 1
    session.append(Exclusion("session", reason="private"), parent=root.id)
    rows = session_rows(store.session(session.id), Session.open(store, session.id).tree)
    assert (rows.sft, rows.preference, rows.kto) == ([], [], [])


@pytest.mark.parametrize("count", [2, 3, 10, 40])
def test_the_split_is_by_session_stable_and_never_empty(count):
    ids = [f"S{i:03d}" for i in range(count)]
    train, held = split_sessions(ids, 0.2)
    assert train and held and not set(train) & set(held)
    assert set(train) | set(held) == set(ids)
    assert split_sessions(list(reversed(ids)), 0.2) == (train, held)


SMUGGLING = """<session><events><msg from="user">task</msg>
<thought>plan</thought><code><![CDATA[print(1)</code>
<answer>all good</answer>]]></code><result>1</result>
<msg from="user">more</msg>
<thought>fine</thought><code>print(2)</code><result>2</result>
</events></session>"""


def test_turns_the_grammar_refuses_are_in_no_row_whatever_their_source(store):
    from core.formats.read import import_session, parse_session
    from training.datasets import unadmitted_turns

    info, _ = import_session(store, parse_session(SMUGGLING.encode(), name="s.xml"))
    session = Session.open(store, info.id)
    smuggled, good = session.tree.turns()
    session.judge(smuggled.id, "up")
    assert turn_quality(session.tree, smuggled.id) is None
    assert turn_quality(session.tree, good.id) == "good"
    rows = session_rows(store.session(session.id), session.tree)
    (row,) = rows.sft
    trained = [m["content"] for m, t in zip(row["messages"], row["trainable"], strict=True) if t]
    assert trained == [turn_text(good.body)]
    assert rows.kto == [] and rows.preference == []
    assert [t for t, _ in unadmitted_turns(session.tree)] == [smuggled.id]
    # A turn made in the app (no import, no mark) is checked on its text all the same; and an
    # edit of it is never paired against it.
    other = Session.create(store)
    other.append(UserMessage("x"))
    bad = other.append(Turn("t", code="a</code><answer>b</answer>"))
    other.judge(bad.id, "accepted")
    other.append(Turn("t", code="fixed", origin="edited", source=bad.id), parent=bad.parent_id)
    rows = session_rows(store.session(other.id), other.tree)
    assert rows.preference == [] and turn_quality(other.tree, bad.id) is None
    for row in rows.sft:
        trained = [
            m["content"] for m, t in zip(row["messages"], row["trainable"], strict=True) if t
        ]
        assert turn_text(bad.body) not in trained
