"""Adopt only what won: each run's evaluation decides whether the app loads it by default; a
run that diverged is kept and listed, never loaded unless named; eval's JSON; merged adapters."""

from __future__ import annotations

import json

import pytest
from test_training_cli import FAST, demo_folder, home, tiny_cache  # noqa: F401

from kyzel_tui.cli import main
from kyzel_tui.model_choice import choose_adapter, for_generation
from training import registry

TRAIN = ["--train", "--no-examples", "--eval-share", "0.5", "--set", "preference=false"]


def warm_base(home, tiny_cache, folder):  # noqa: F811
    """The demo model after a few SFT steps on the store, merged and saved as a model folder:
    unlike the random demo model (as uniform as a diverged one), it has a loss to lose."""
    from core.model.loading import load_model
    from core.store.database import Store
    from training.adopt import merge_model
    from training.build import collect, make_rows
    from training.settings import TrainConfig
    from training.trainer import Trainable, add_lora, train_sft

    loaded = load_model(demo_folder(tiny_cache), device="cpu")
    with Store.open(home) as store:
        rows = make_rows(collect(store, examples=None), 0.0).rows["sft"]["train"]
    config = TrainConfig(lr=5e-3, max_steps=6, batch_size=4, grad_accum=1, warmup=0.0)
    trainable = Trainable(loaded.model, loaded.tokenizer, "warm", "peft", "cpu", False)
    model = add_lora(trainable, config)
    train_sft(model, trainable, rows, [], config)
    merge_model(model).save_pretrained(folder)
    loaded.tokenizer.save_pretrained(folder)
    return str(folder)


def test_the_default_adapter_is_the_newest_that_won_never_one_that_diverged(  # noqa: F811
    home,  # noqa: F811
    tiny_cache,  # noqa: F811
    tmp_path,
    capsys,
):
    import torch

    from core.model.loading import load_model

    demo = warm_base(home, tiny_cache, tmp_path / "warm")
    base = ["--home", str(home), *TRAIN, "--model", demo, *FAST, "--set", "warmup=0"]
    assert main([*base, "--lr", "5e-3", "--epochs", "8"]) == 0
    out = capsys.readouterr().out
    assert "this run improved" in out and "by default" in out, out
    # Newer, and trained with a learning rate so high that it diverges.
    assert main([*base, "--lr", "50", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "made things worse" in out and "never loaded by default" in out, out
    bad, good = registry.list_adapters(home)  # newest first
    assert registry.verdict(good.metrics)[0] and not registry.verdict(bad.metrics)[0]
    assert bad.meta["verdict"]["won"] is False and good.meta["verdict"]["won"] is True

    assert registry.default_adapter(home, demo).run_id == good.run_id
    assert registry.default_adapter(home, "Qwen/Other") is None
    assert choose_adapter(None, demo, False, home) == (str(good.path), True)
    assert choose_adapter("none", demo, False, home) == (None, True)
    assert choose_adapter(bad.run_id, demo, False, home) == (str(bad.path), True)  # forced
    assert choose_adapter("nosuchrun", demo, False, home) == (None, False)
    assert "no adapter 'nosuchrun'" in capsys.readouterr().err

    assert main(["--home", str(home), "adapters"]) == 0
    listed = capsys.readouterr().out
    rows = {line.split()[0]: line for line in listed.splitlines() if line[:2].isdigit()}
    assert "won, default" in rows[good.run_id] and "worse" in rows[bad.run_id]
    gain = registry.loss_gain(good)
    assert gain < 0 and registry.adapter_label(good) == (
        f"adapter {good.run_id} (−{abs(gain):.0%} loss)"
    )

    # The app's model: the adapter merged into the weights, the same logits, the gain named.
    loaded = load_model(demo, adapter=str(good.path), device="cpu")
    ids = torch.tensor([[5, 17, 42, 9, 3]])
    with torch.inference_mode():
        unmerged = loaded.model(input_ids=ids).logits
        ready = for_generation(loaded)
        merged = ready.model(input_ids=ids).logits
    assert not hasattr(ready.model, "peft_config") and "(−" in ready.label
    assert torch.allclose(unmerged, merged, atol=1e-4)


def test_eval_on_exactly_the_named_sessions_as_json(home, capsys):  # noqa: F811
    from core.store.database import Store

    assert main(["--home", str(home), *TRAIN, "--demo", *FAST, "--max-steps", "1"]) == 0
    (run,) = registry.list_adapters(home)
    with Store.open(home) as store:
        ids = sorted(s.id for s in store.sessions())
    held = json.loads((run.path / "manifest.json").read_text())["sessions"]["eval"]
    chosen = [i for i in ids if i not in held][:2]  # training sessions: named, so measured
    capsys.readouterr()
    command = ["--home", str(home), "eval", "--adapter", run.run_id, "--json", *FAST]
    assert main([*command, "--sessions", *[c[:14] for c in chosen]]) == 0
    record = json.loads(capsys.readouterr().out)
    assert sorted(record["sessions"]) == sorted(chosen)
    for side in ("before", "after"):
        assert set(record[side]) >= {"loss", "preference_accuracy", "margin", "format_share"}
    # Each session has one accepted answer and one accepted code turn on its kept branch.
    assert record["after"]["pairs"] == len(chosen) and record["after"]["loss_tokens"] > 0
    # The reward accuracy compares the adapter's margins with the base's, pair by pair.
    before, after = record["before"], record["after"]
    assert before["reward_accuracy"] is None and len(before["pair_scores"]) == len(chosen)
    widened = [
        (a[0] - a[2]) - (b[0] - b[2])
        for a, b in zip(after["pair_scores"], before["pair_scores"], strict=True)
    ]
    assert after["reward_accuracy"] == sum(w > 0 for w in widened) / len(widened)
    assert after["reward_margin"] == pytest.approx(sum(widened) / len(widened))
    per_token = [a[0] / a[1] > a[2] / a[3] for a in after["pair_scores"]]
    assert after["preference_accuracy"] == sum(per_token) / len(per_token)
    assert main([*command, "--sessions", "ZZZZ"]) == 1
    assert "no session match 'ZZZZ'" in capsys.readouterr().err
