"""The one renderer of the model's input: what a turn is trained after is what it is prompted with.

For every test tokenizer (the tiny one, SmolLM2 as converted and as repaired, Gemma 3's rebuilt
SentencePiece one), a session with results, a kernel note, a skipped turn and its reason is
rendered as a training row; for each assistant turn, the ids before its first trained token must
be exactly the inference prompt for that turn (`core.model.generate.prompt_ids`, the path the
app generates from).
"""

from __future__ import annotations

import pytest

from core.chat import prompt_messages, render, task_messages
from core.events import KernelEvent, Result, Turn, UserMessage
from core.model.generate import prompt_ids
from core.session import Session
from training.datasets import session_rows

FAMILIES = ["tiny", "smollm2_unrepaired", "smollm2_repaired", "gemma_tokenizer"]


@pytest.fixture(params=FAMILIES)
def tokenizer(request):
    if request.param == "tiny":
        return request.getfixturevalue("tiny")[1]
    return request.getfixturevalue(request.param)


def a_session(store) -> Session:
    session = Session.create(store)
    session.append(UserMessage("count the rows of sales.csv, ünïcode 東京"))
    first = session.append(
        Turn("Read it first.", code="import pandas as pd\ndf = pd.read_csv('x')")
    )
    session.judge(first.id, "accepted")
    session.append(Result(output="   a  b\n0  1  2\n"))
    session.append(KernelEvent("died"))
    skipped = session.append(Turn("Delete the cache.", code="!rm -rf ~/.cache"))
    session.judge(skipped.id, "rejected", "never delete things")
    again = session.append(Turn("Count without deleting.", code="print(len(df))"))
    session.judge(again.id, "accepted")
    session.append(Result(output="12\n"))
    session.append(Turn("Done.", answer="sales.csv has 12 rows."))
    return session


def test_each_turn_is_trained_after_exactly_its_inference_prompt(store, tokenizer):
    session = a_session(store)
    tree = session.tree
    (row,) = session_rows(store.session(session.id), tree).sft
    ids, mask = render(tokenizer, row["messages"], row["trainable"])
    assert len(ids) == len(mask) and sum(mask) > 0
    turns = [event for event in tree.path() if event.kind == "turn"]
    assert len(turns) == 4 and row["trainable"].count(True) == 3  # the skipped turn is not learnt
    starts = [i for i, flag in enumerate(mask) if flag and (i == 0 or not mask[i - 1])]
    trained = [turn for turn, learn in zip(turns, [True, False, True, True], strict=True) if learn]
    assert len(starts) == len(trained)
    for turn in turns:
        prompt = prompt_ids(tokenizer, prompt_messages(tree, turn.parent_id))
        assert ids[: len(prompt)] == prompt, f"turn {turn.body.thought!r} is prompted differently"
        if turn in trained:
            assert starts[trained.index(turn)] == len(prompt)
        else:
            assert not mask[len(prompt)]


def test_an_inference_prompt_is_the_templates_own_tokens_and_learns_nothing(tokenizer):
    messages = task_messages("What does len() give for a dict?")
    ids, mask = render(tokenizer, messages)
    assert not any(mask)
    library = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    library = library["input_ids"] if hasattr(library, "keys") else library
    assert ids == list(library)
    closed, _ = render(
        tokenizer, [*messages, {"role": "assistant", "content": "x"}], [0] * len(messages) + [1]
    )
    assert closed[: len(ids)] == ids  # the generation prompt is where a turn begins


def test_a_prompt_for_the_first_turn_of_a_session_is_the_fixed_prefix_alone(store, tiny):
    session = Session.create(store)
    assert prompt_messages(session.tree, None) == task_messages("x")[:-1]
