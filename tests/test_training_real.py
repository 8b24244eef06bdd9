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

    from training.evaluate import preference_margins
    from training.trainer import add_lora, load_for_training, train_preference

    config = TrainConfig(pref_lr=1e-3, pref_epochs=4, batch_size=4, grad_accum=1, warmup=0.0)
    trainable = load_for_training(real_model, config, "peft")
    model = add_lora(trainable, config)
    measured = pairs(4)

    def margin() -> float:
        with torch.inference_mode():
            return sum(preference_margins(model, trainable.tokenizer, measured)) / len(measured)

    before = margin()
    rows = {"preference": {"train": pairs(4), "eval": []}, "kto": {"train": [], "eval": []}}
    result = train_preference(model, trainable, rows, config)
    assert result.stage == "dpo" and result.steps == 4
    assert margin() > before + 1.0


def test_the_default_adapter_skips_a_run_that_diverged(real_model, tmp_path, capsys):
    from core.store.database import Store
    from kyzel_tui.cli import main
    from training import registry

    home = tmp_path / "home"
    with Store.open(home) as store:
        small_store(store, 4)
    base = ["--home", str(home), "--train", "--model", real_model, "--no-examples"]
    base += ["--eval-share", "0.5", "--max-steps", "2", "--set", "preference=false"]
    base += ["--set", "eval_prompts=1", "--set", "eval_max_new_tokens=8", "--set", "warmup=0"]
    assert main([*base, "--lr", "3e-4"]) == 0
    assert "this run improved" in capsys.readouterr().out
    assert main([*base, "--lr", "50"]) == 0
    assert "made things worse" in capsys.readouterr().out
    bad, good = registry.list_adapters(home)
    assert bad.metrics["after"]["loss"] > bad.metrics["before"]["loss"]
    assert registry.default_adapter(home, real_model).run_id == good.run_id
