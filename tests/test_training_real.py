"""Learning on the real embedded model (SmolLM2-135M-Instruct), short runs of a few steps:
SFT lowers the masked loss on its rows, DPO raises the margin on its pairs, and the default-adapter
rule keeps a run that improved and skips one whose learning rate made it diverge.

The model is the embedded `smollm2`, or the folder named by $KYZEL_SMOLLM2; without either the
module is skipped, saying so."""

from __future__ import annotations

import os

import pytest
from test_training_build import small_store
from test_training_trainer import pairs, short_rows

from training.settings import TrainConfig

MODEL = os.environ.get("KYZEL_SMOLLM2") or "smollm2"


@pytest.fixture(scope="module")
def real_model() -> str:
    from core.model.loading import ModelLoadError, load_tokenizer

    try:
        load_tokenizer(MODEL)
    except (ModelLoadError, OSError, ValueError) as error:
        pytest.skip(f"the embedded SmolLM2 is not available ({error}); set $KYZEL_SMOLLM2")
    return MODEL


def test_sft_lowers_the_masked_loss_on_its_rows(real_model):
    import torch

    from training.evaluate import masked_loss
    from training.trainer import add_lora, load_for_training, train_sft

    rows = short_rows(4)
    config = TrainConfig(lr=1e-3, epochs=4, batch_size=4, grad_accum=1, warmup=0.0, lora_r=8)
    trainable = load_for_training(real_model, config, "peft")
    with torch.inference_mode():
        before, _ = masked_loss(trainable.model, trainable.tokenizer, rows)
    model = add_lora(trainable, config)
    result = train_sft(model, trainable, rows, [], config)
    with torch.inference_mode():
        after, _ = masked_loss(model, trainable.tokenizer, rows)
    assert result.steps == 4 and after < before * 0.8, (before, after)


def test_dpo_raises_the_margin_on_its_pairs(real_model):
    import torch

    from training.evaluate import preference_scores, summed_margin
    from training.trainer import add_lora, load_for_training, train_preference

    config = TrainConfig(pref_lr=1e-3, pref_epochs=4, batch_size=4, grad_accum=1, warmup=0.0)
    trainable = load_for_training(real_model, config, "peft")
    model = add_lora(trainable, config)
    measured = pairs(4)

    def margin() -> float:
        with torch.inference_mode():
            return sum(
                map(summed_margin, preference_scores(model, trainable.tokenizer, measured))
            ) / len(measured)

    before = margin()
    rows = {"preference": {"train": pairs(4), "eval": []}, "kto": {"train": [], "eval": []}}
    result = train_preference(model, trainable, rows, config)
    assert result.stage == "dpo" and result.steps == 4
    assert margin() > before + 1.0


@pytest.fixture(scope="module")
def two_runs(real_model, tmp_path_factory):
    """A data folder with two honest `--train` runs on the real model: one that improved, then
    one whose learning rate (50) made it diverge. (home, the good run, the bad run, outputs)"""
    import contextlib
    import io

    from core.store.database import Store
    from kyzel_tui.cli import main
    from training import registry

    home = tmp_path_factory.mktemp("two-runs") / "home"
    with Store.open(home) as store:
        small_store(store, 4)
    base = ["--home", str(home), "--train", "--model", real_model, "--no-examples"]
    base += ["--eval-share", "0.5", "--max-steps", "2", "--set", "preference=false"]
    base += ["--set", "eval_prompts=1", "--set", "eval_max_new_tokens=8", "--set", "warmup=0"]
    outputs = []
    for lr in ("3e-4", "50"):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main([*base, "--lr", lr]) == 0
        outputs.append(out.getvalue())
    bad, good = registry.list_adapters(home)
    return home, good, bad, outputs


def test_the_default_adapter_skips_a_run_that_diverged(real_model, two_runs):
    from kyzel_tui.model_choice import base_model
    from training import registry

    home, good, bad, (good_out, bad_out) = two_runs
    assert "this run improved" in good_out and "made things worse" in bad_out
    assert good.metrics["after"]["loss"] < good.metrics["before"]["loss"]
    assert bad.metrics["after"]["loss"] > bad.metrics["before"]["loss"]
    assert registry.default_adapter(home, base_model(real_model, False)).run_id == good.run_id


async def test_the_embedded_model_standing_in_for_the_default_loads_its_winning_adapter(
    real_model, two_runs, monkeypatch
):
    """Offline without the hardware's default, the app falls back to the embedded model and
    loads, by default, the adapter that won on it (not the newer one that diverged)."""
    from huggingface_hub import try_to_load_from_cache

    from core.model.loading import default_model_id, detect_hardware
    from kyzel_tui.app import make_app
    from kyzel_tui.config import AppConfig
    from training import registry

    from app_harness import SIZE, wait_for

    if real_model != "smollm2":
        pytest.skip("the runs were trained on $KYZEL_SMOLLM2, not on the embedded model")
    default = default_model_id(detect_hardware())
    if isinstance(try_to_load_from_cache(default, "config.json"), str):
        pytest.skip(f"{default} is in the local cache here, so the app would not fall back")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub cannot be asked: the default is missing
    home, good, bad, _ = two_runs
    app = make_app(AppConfig(home=home, default_adapter=True))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot, lambda: app.agent.model is not None or app.main.model_failed, "the model", 300
        )
        loaded = app.agent.model
        assert loaded is not None and loaded.notice and "Could not get" in loaded.notice
        assert loaded.adapter == str(good.path)
        assert registry.adapter_label(good) in app.main.status.model


def test_a_real_pair_scored_in_one_pass_equals_the_pair_scored_apart(real_model):
    """The shared forward on the real Llama architecture, with the product's prompt: a tree
    mask and position ids give each turn what it sees alone; bf16 autocast stays close."""
    import torch
    from test_training_shared import lora_model, pair, scores_and_grads

    from training.loss import computing_in, shared_logprobs, token_logprobs

    trainable, model = lora_model(real_model)
    seqs = pair(trainable.tokenizer, "What does `git stash pop` do when there is a conflict?")
    shared = len(seqs[0][0]) - sum(seqs[0][1])
    assert shared > 400  # the prefix of example exchanges and the question: run once
    apart, grads = scores_and_grads(model, lambda: [token_logprobs(model, *s) for s in seqs])
    one, grads_one = scores_and_grads(model, lambda: shared_logprobs(model, seqs))
    for a, b in zip(apart, one, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-3, atol=2e-3)
    flat = torch.cat([g.reshape(-1) for g in grads.values()])
    flat_one = torch.cat([g.reshape(-1) for g in grads_one.values()])
    assert float((flat_one - flat).norm() / flat.norm()) < 1e-3
    with computing_in("cpu", torch.bfloat16):
        half = [s.detach() for s in shared_logprobs(model, seqs)]
    for a, b in zip(apart, half, strict=True):
        assert abs(float(b.sum() - a.sum())) < 0.02 * abs(float(a.sum()))


def test_the_kind_share_counts_turns_that_end_as_the_kept_ones_did(real_model):
    """SmolLM2 with the product's prompt, greedy and unconstrained, answers a question in words
    and a task with code: measured against the turns a user kept for them, every turn is
    well-formed and of the kept kind; against kept turns of the other kinds, every turn is still
    well-formed and none is of the kept kind, so a run that drifts that way loses."""
    from core.chat import EXPLAIN, RUN, task_messages
    from grammars.turn import TurnFields, render
    from training import registry
    from training.evaluate import format_shares, turn_kind
    from training.trainer import load_for_training

    trainable = load_for_training(real_model, TrainConfig(), "peft")
    answer = render(TurnFields(EXPLAIN, answer="A list can change; a tuple cannot."))
    code = render(TurnFields(RUN, code="import sys\nprint(sys.version)"))
    assert (turn_kind(answer), turn_kind(code), turn_kind("<thought>x")) == ("answer", "code", None)
    question = task_messages("What is the difference between a list and a tuple?")
    task = task_messages("Print the version of Python this kernel runs.")
    model, tokenizer = trainable.model, trainable.tokenizer
    kept = format_shares(model, tokenizer, [(question, answer), (task, code)], 96)
    swapped = format_shares(model, tokenizer, [(question, code), (task, answer)], 96)
    assert kept == (1.0, 1.0) and swapped == (1.0, 0.0)
    metrics = {
        "before": {"loss": 2.0, "format_share": 1.0, "kind_share": kept[1]},
        "after": {"loss": 1.5, "format_share": 1.0, "kind_share": swapped[1]},
    }
    won, why = registry.verdict(metrics)
    assert not won and "end as the kept turn did" in why and "from 100% to 0%" in why
    metrics["after"]["kind_share"] = kept[1]
    assert registry.verdict(metrics)[0]
