"""Building datasets on disk from the store: rows, splits, files and the manifest."""

from __future__ import annotations

import json

from datasets import load_from_disk

from core.events import Result, Turn, UserMessage
from core.session import Session
from training.build import collect, dry_run, make_rows, write


def small_store(store, sessions: int = 4):
    ids = []
    for n in range(sessions):
        session = Session.create(store, title=f"task {n}")
        session.append(UserMessage(f"task number {n}"))
        first = session.append(Turn("try", code=f"print({n})"))
        session.judge(first.id, "rejected", "not like that")
        good = session.append(Turn("better", code=f"print({n} * 2)"), parent=first.parent_id)
        session.judge(good.id, "accepted")
        session.append(Result(output=str(n * 2)))
        answer = session.append(Turn("done", answer=f"It is {n * 2}."))
        session.judge(answer.id, "up")
        ids.append(session.id)
    return ids


def test_rows_are_split_by_session_and_written_with_a_manifest(store, tiny, tmp_path):
    ids = small_store(store)
    sources = collect(store, examples=None)
    assert sorted(s.info.id for s in sources) == sorted(ids)
    built = make_rows(sources, eval_share=0.25)
    train, held = built.sessions["train"], built.sessions["eval"]
    assert held and train and not set(train) & set(held)
    for kind in ("sft", "preference", "kto"):
        for split, sessions in (("train", train), ("eval", held)):
            assert {r["session_id"] for r in built.rows[kind][split]} <= set(sessions)
    folder = write(built, tmp_path / "data", tokenizer=tiny[1])
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["counts"]["preference"]["train"] == len(train)
    assert manifest["render_version"] >= 1 and set(manifest["sessions"]["eval"]) == set(held)
    lines = (folder / "sft-train.jsonl").read_text().splitlines()
    assert (
        len(lines) == manifest["counts"]["sft"]["train"] and "sft-train.jsonl" in manifest["files"]
    )
    sft = load_from_disk(str(folder / "sft" / "train"))
    assert set(sft.column_names) >= {"input_ids", "assistant_masks"}
    assert all(
        len(r["input_ids"]) == len(r["assistant_masks"]) and any(r["assistant_masks"]) for r in sft
    )
    preference = load_from_disk(str(folder / "preference" / "train"))
    assert set(preference.column_names) >= {"prompt", "chosen", "rejected"}


def test_dry_run_shows_counts_and_the_loss_mask(store, tiny):
    small_store(store, 2)
    built = make_rows(collect(store, examples=None))
    text = dry_run(built, tiny[1])
    assert "1 for training, 1 held out" in text
    assert "⟦<thought>" in text and "one preference row:" in text and "(rejection)" in text
