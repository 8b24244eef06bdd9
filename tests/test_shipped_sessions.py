"""The example sessions shipped in data/sessions: they import, every turn is admitted by the turn
grammar, they are what their scripts say, they make enough training data, and the builder really
rebuilds one through the agent and a kernel."""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

import pytest

from core.chat import turn_text
from core.formats.read import import_session, parse_session, read_session
from core.store.database import Store
from core.tree import SessionTree
from grammars.turn import parse
from training.build import EXAMPLES, collect
from training.datasets import session_rows, unadmitted_turns

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `data` is not an installed package

SHIPPED = sorted(EXAMPLES.glob("*.xml"))
SCRIPTS = sorted(p for p in (EXAMPLES / "scripts").glob("*.py") if not p.name.startswith("_"))


def tree_of(path: Path) -> SessionTree:
    parsed = read_session(path)
    return SessionTree(parsed.info.id, parsed.events, head=parsed.info.head)


def test_one_file_per_script_and_at_least_24():
    assert EXAMPLES == ROOT / "data" / "sessions"
    assert len(SHIPPED) >= 24
    assert {p.stem for p in SHIPPED} == {p.stem.replace("_", "-") for p in SCRIPTS}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_imports_into_a_store(path: Path, tmp_path: Path):
    with Store.open(tmp_path / "home") as store:
        info, _ = import_session(store, parse_session(path.read_bytes(), name=path.name))
        assert len(store.events(info.id)) == len(tree_of(path))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_turn_is_admitted_by_the_grammar(path: Path):
    tree = tree_of(path)
    assert tree.turns()
    for turn in tree.turns():
        fields = parse(turn_text(turn.body))  # raises TurnParseError where the text goes wrong
        assert (fields.thought, fields.code, fields.answer) == (
            turn.body.thought,
            turn.body.code,
            turn.body.answer,
        )
        assert not (turn.body.code or "").startswith("```"), "code bodies are plain Python"
    assert unadmitted_turns(tree) == []


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_the_file_holds_its_scripts_turns(path: Path):
    from data.script import script_turns

    script = importlib.import_module(f"data.sessions.scripts.{path.stem.replace('-', '_')}")
    stored = [(t.body.thought, t.body.code, t.body.answer) for t in tree_of(path).turns()]
    assert stored == script_turns(script.SCRIPT)


def test_the_shipped_set_makes_preference_and_kto_rows():
    sources = collect(None)  # no store: the shipped examples only
    assert len(sources) == len(SHIPPED)
    rows = [session_rows(s.info, s.tree) for s in sources]
    pairs = [p for r in rows for p in r.preference]
    kto = [k for r in rows for k in r.kto]
    assert len(pairs) >= 40
    assert {p["kind"] for p in pairs} == {"rejection", "retry", "edit"}
    assert len(kto) >= 1 and {k["label"] for k in kto} == {True, False}
    assert all(r.sft for r in rows)
    turns = [t for s in sources for t in s.tree.turns()]
    assert any(t.body.answer is not None for t in turns)
    assert any(t.body.code is not None for t in turns)


@pytest.mark.slow
def test_the_builder_replays_a_script_through_the_agent(tmp_path: Path):
    """word-frequency has a skip with a reason, a rating and a rollback, ask-unclear a shell
    command through the kernel's pty: rebuilt in a real kernel, each matches its shipped file in
    every turn, verdict, branch and output (ids and times aside)."""
    from data import make_sessions

    names = ["word-frequency", "ask-unclear"]
    asyncio.run(make_sessions.main(names, out_dir=tmp_path))
    for name in names:
        built, shipped = (tree_of(folder / f"{name}.xml") for folder in (tmp_path, EXAMPLES))
        assert shape(built) == shape(shipped), name
    built = tree_of(tmp_path / "word-frequency.xml")
    # The rollback: the rated-down count and the new one are two turns under the same result.
    forks = [e for e in built if e.kind == "result" and len(built.children(e.id)) == 2]
    assert len(forks) == 1
    first, second = built.children(forks[0].id)
    assert built.rating(first) == "down" and built.decision(second).value == "accepted"


def shape(tree: SessionTree) -> list[tuple]:
    """Each event as its kind, its parent's position and what it says."""
    order = {event.id: index for index, event in enumerate(tree)}
    out = []
    for event in tree:
        body = event.body
        said = {
            "turn": lambda b: (b.thought, b.code, b.answer, b.origin, order.get(b.source)),
            "result": lambda b: (b.status, b.output),
            "verdict": lambda b: (b.value, b.reason),
            "head": lambda b: (b.reason,),
            "user": lambda b: (b.text,),
            "kernel": lambda b: (b.state,),
        }[event.kind](body)
        out.append((event.kind, order.get(event.parent_id), said))
    return out
