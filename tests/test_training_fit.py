"""Training that fits and figures that are honest: near-duplicate sessions split together, held-out
pairs, windows for chats longer than the context, `max_steps` on every stage, the chunked loss."""

from __future__ import annotations

import pytest
from test_training_trainer import pairs, short_rows, tiny_folder  # noqa: F401

from core.chat import PREFIX
from training.datasets import SessionRows, render_with_mask
from training.settings import TrainConfig
from training.split import groups, split_groups
from training.window import WindowStats, window_rows


def session(sid: str, task: str, pairs_too: bool = False, reply: str = "ok") -> SessionRows:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": task},
        {"role": "assistant", "content": f"<thought>{reply}</thought>\n<code>print(1)</code>"},
    ]
    rows = SessionRows(sid, sft=[{"session_id": sid, "messages": messages, "trainable": [0, 0, 1]}])
    if pairs_too:
        rows.preference.append({"session_id": sid, "prompt": messages[:2], "chosen": "a"})
    return rows


def test_near_duplicate_sessions_land_on_the_same_side():
    tasks = {
        "A1": "Read sales.csv and plot the monthly totals.",
        "A2": "read  SALES.csv and plot the monthly totals",  # the same task saved twice
        "B1": "Find the largest file in my home folder and tell me its size please",
        "B2": "Find the largest file in my home folder and tell me its size",  # nearly
    }
    tasks |= {f"C{i}": f"Unrelated task number {i} about topic {i * 7}" for i in range(12)}
    found = groups({sid: [text] for sid, text in tasks.items()})
    assert ["A1", "A2"] in found and ["B1", "B2"] in found
    assert sum(len(g) for g in found) == len(tasks) and len(found) == len(tasks) - 2
    per_session = {sid: session(sid, text) for sid, text in tasks.items()}
    for share in (0.2, 0.5, 0.8):
        train, held, count = split_groups(per_session, share)
        assert count == len(found) and held and train and not set(train) & set(held)
        for a, b in (("A1", "A2"), ("B1", "B2")):
            assert (a in held) == (b in held), (share, held)


def test_pairs_are_held_out_whenever_two_groups_have_them():
    per_session = {
        f"S{i}": session(f"S{i}", f"task {i} of {i * 13} things", i < 2) for i in range(10)
    }
    for share in (0.05, 0.2, 0.5):
        train, held, _ = split_groups(per_session, share)
        held_pairs = [s for s in held if per_session[s].preference]
        train_pairs = [s for s in train if per_session[s].preference]
        assert len(held_pairs) == 1 and len(train_pairs) == 1, (share, held, train)
    # A split is stable: the same sessions land on the same sides whatever the order.
    reordered = dict(reversed(list(per_session.items())))
    assert split_groups(reordered, 0.2) == split_groups(per_session, 0.2)


def long_chat(turns: int, words: int) -> dict:
    body = " ".join(f"w{i}" for i in range(words))
    messages = [*PREFIX, {"role": "user", "content": "THE TASK"}]  # the head of every window
    trainable = [False] * len(messages)
    for n in range(turns):
        messages.append({"role": "assistant", "content": f"<thought>t{n} {body}</thought>"})
        trainable.append(n % 3 != 1)  # some turns are context only
        messages.append({"role": "user", "content": f"result {n} {body}"})
        trainable.append(False)
    messages.append({"role": "assistant", "content": "<thought>end</thought>"})
    trainable.append(True)
    return {"session_id": "L", "messages": messages, "trainable": trainable}


def test_long_chats_become_windows_that_keep_the_task_and_learn_every_turn_once(tiny_folder):  # noqa: F811
    from core.model.loading import load_tokenizer

    _, tokenizer = load_tokenizer(tiny_folder)
    row = long_chat(turns=12, words=40)
    full, _ = render_with_mask(tokenizer, row["messages"], row["trainable"])
    head = len(PREFIX) + 1
    head_ids, _ = render_with_mask(tokenizer, row["messages"][:head], row["trainable"][:head])
    limit = len(head_ids) + (len(full) - len(head_ids)) // 3
    stats = WindowStats()
    windows = window_rows(tokenizer, [row], "sft", limit, stats)
    assert stats.windowed == 1 and stats.windows == len(windows) >= 3 and not stats.dropped_turns
    learnt = []
    for window in windows:
        ids, mask = render_with_mask(tokenizer, window["messages"], window["trainable"])
        assert len(ids) <= limit and any(mask)
        assert window["messages"][:head] == row["messages"][:head]  # the prefix and the task
        assert window["messages"][head]["role"] == "assistant"  # roles still alternate
        learnt += [
            m["content"] for m, t in zip(window["messages"], window["trainable"], strict=True) if t
        ]
    wanted = [m["content"] for m, t in zip(row["messages"], row["trainable"], strict=True) if t]
    assert learnt == wanted  # every trainable turn exactly once, in order
    assert "rows are longer than" in stats.line(limit)

    # A row that fits is passed through; a turn too long even alone is counted, never cut.
    assert window_rows(tokenizer, [row], "sft", len(full), WindowStats()) == [row]
    huge = long_chat(turns=1, words=400)
    stats = WindowStats()
    kept = window_rows(tokenizer, [huge], "sft", len(head_ids) + 100, stats)
    assert stats.dropped_turns == 1 and [m["content"] for m in kept[0]["messages"]][-1] == (
        "<thought>end</thought>"
    )


def test_max_steps_caps_every_stage_and_epochs_end_earlier(tiny_folder, tmp_path):  # noqa: F811
    from training.trainer import add_lora, load_for_training, train_preference, train_sft

    config = TrainConfig(
        epochs=10, pref_epochs=10, max_steps=3, batch_size=2, grad_accum=1, patience=0
    )
    trainable = load_for_training(tiny_folder, config, "peft")
    model = add_lora(trainable, config)
    rows = short_rows(4)
    assert train_sft(model, trainable, rows, [], config).steps == 3
    prefs = {"preference": {"train": pairs(4), "eval": pairs(2)}, "kto": {"train": [], "eval": []}}
    dpo = train_preference(model, trainable, prefs, config)
    assert dpo.stage == "dpo" and dpo.steps == 3 and dpo.eval_loss
    ratings = [{"prompt": p["prompt"], "completion": p["chosen"], "label": True} for p in pairs(2)]
    kto_rows = {"preference": {"train": [], "eval": []}, "kto": {"train": ratings, "eval": []}}
    assert train_preference(model, trainable, kto_rows, config).steps == 3
    config.max_steps, config.epochs, config.pref_epochs = 50, 1, 1  # the epochs end first
    assert train_sft(model, trainable, rows, [], config).steps == 2
    assert train_preference(model, trainable, prefs, config).steps == 2


def test_chunked_scores_equal_the_full_logits(tiny_folder):  # noqa: F811
    import torch

    from core.model.loading import load_model
    from training.loss import token_logprobs

    loaded = load_model(tiny_folder, device="cpu")
    row = long_chat(turns=3, words=30)
    ids, mask = render_with_mask(loaded.tokenizer, row["messages"], row["trainable"])
    with torch.no_grad():
        logits = loaded.model(input_ids=torch.tensor([ids])).logits[0, :-1].float()
        full = logits.log_softmax(-1).gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]
        full = full[torch.tensor(mask[1:], dtype=torch.bool)]
        chunked = token_logprobs(loaded.model, ids, mask, chunk=7)
    assert chunked.shape == full.shape and torch.allclose(chunked, full, atol=1e-4)
    # With gradients on, the chunks are recomputed in the backward pass: same values, a gradient.
    weight = loaded.model.get_input_embeddings().weight
    weight.requires_grad_(True)
    scores = token_logprobs(loaded.model, ids, mask, chunk=7)
    scores.sum().backward()
    assert torch.allclose(scores.detach(), full, atol=1e-4) and weight.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", ["preference", "kto"])
def test_long_prompts_are_windowed_around_their_completions(tiny_folder, kind):  # noqa: F811
    from core.model.loading import load_tokenizer

    _, tokenizer = load_tokenizer(tiny_folder)
    prompt = long_chat(turns=8, words=40)["messages"][:-1]
    head = len(PREFIX) + 1
    head_ids, _ = render_with_mask(tokenizer, prompt[:head], [False] * head)
    row = {"prompt": prompt, "chosen": "<thought>a</thought>", "rejected": "<thought>b</thought>"}
    if kind == "kto":
        row = {"prompt": prompt, "completion": "<thought>a</thought>", "label": True}
    stats = WindowStats()
    (kept,) = window_rows(tokenizer, [row], kind, len(head_ids) + 300, stats)
    assert stats.windowed == 1 and kept["prompt"][:head] == prompt[:head]
    assert kept["prompt"][-1] == prompt[-1] and len(kept["prompt"]) < len(prompt)
