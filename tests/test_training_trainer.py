"""Training on the tiny model, on the CPU: settings, SFT, reloading the adapter, DPO, KTO."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.datasets import render_with_mask
from training.evaluate import masked_loss, preference_scores, summed_margin
from training.settings import TrainConfig, TrainError, load_config
from training.trainer import (
    add_lora,
    choose_backend,
    load_for_training,
    train_preference,
    train_sft,
)


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory) -> str:
    """The default tiny model's folder, in a cache shared by the training tests of this run."""
    from core.model.tiny import TinySpec, build_tiny_model

    return str(build_tiny_model(TinySpec(), tmp_path_factory.getbasetemp() / "kyzel-tiny-cache"))


def short_rows(n: int = 8) -> list[dict]:
    # Short chats without the system prompt: a few dozen steps run in seconds on two cores.
    return [
        {
            "session_id": f"s{i}",
            "messages": [
                {"role": "user", "content": f"double {i}"},
                {
                    "role": "assistant",
                    "content": f"<thought>easy</thought>\n<answer>{2 * i}</answer>",
                },
            ],
            "trainable": [False, True],
        }
        for i in range(n)
    ]


def pairs(n: int = 4, swap: bool = False) -> list[dict]:
    good, bad = (
        "<thought>check</thought>\n<code>print(1)</code>",
        "<thought>guess</thought>\n<answer>no</answer>",
    )
    if swap:
        good, bad = bad, good
    return [
        {"prompt": [{"role": "user", "content": f"task {i}"}], "chosen": good, "rejected": bad}
        for i in range(n)
    ]


def test_config_layers_defaults_file_and_command_line(tmp_path: Path):
    (tmp_path / "config.toml").write_text('[keys]\nrun = "y"\n[train]\nepochs = 5\nlora_r = 4\n')
    config = load_config(tmp_path, {"lora_r": "8", "preference": "false", "lr": None})
    assert (config.epochs, config.lora_r, config.preference, config.lr) == (5.0, 8, False, 5e-4)
    assert load_config(tmp_path, {"gradient_checkpointing": "true"}).gradient_checkpointing == 1
    assert load_config(tmp_path, {"gradient_checkpointing": "off"}).gradient_checkpointing == 0
    assert load_config(tmp_path, {"gradient_checkpointing": "0.25"}).gradient_checkpointing == 0.25
    with pytest.raises(TrainError, match="gradient_checkpointing is a share of the layers"):
        load_config(tmp_path, {"gradient_checkpointing": "2"})
    with pytest.raises(TrainError, match="unknown training setting 'lora_rank'"):
        load_config(tmp_path, {"lora_rank": 3})
    with pytest.raises(TrainError, match="eval_share"):
        load_config(tmp_path, {"eval_share": "1.5"})
    (tmp_path / "config.toml").write_text("[train]\nbatch_size = 'big'\n")
    with pytest.raises(TrainError, match="batch_size wants a int"):
        load_config(tmp_path)


def test_recomputing_a_share_of_the_layers_changes_memory_not_gradients(tiny_folder):
    import torch

    from core.model.tiny import TinySpec, build_tiny_model
    from training.loss import token_logprobs

    folder = build_tiny_model(TinySpec(num_layers=4), Path(tiny_folder).parent / "four-layers")
    ids, mask = render_with_mask(
        load_for_training(str(folder), TrainConfig(), "peft").tokenizer,
        short_rows(1)[0]["messages"],
        [False, True],
    )
    grads, flags = {}, {}
    for share in (0.0, 0.5, 1.0):
        config = TrainConfig(gradient_checkpointing=share)
        model = add_lora(load_for_training(str(folder), config, "peft"), config)
        model.train()
        layers = [m for m in model.modules() if type(m).__name__.endswith("DecoderLayer")]
        flags[share] = [bool(layer.gradient_checkpointing) for layer in layers]
        token_logprobs(model, ids, mask).sum().backward()
        grads[share] = torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad])
    assert flags == {0.0: [False] * 4, 0.5: [False, True, False, True], 1.0: [True] * 4}
    assert grads[0.0].abs().sum() > 0
    for share in (0.5, 1.0):
        assert torch.allclose(grads[share], grads[0.0], atol=1e-6), share


def test_without_cuda_the_backend_is_peft():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert choose_backend(TrainConfig()) == "peft"
    with pytest.raises(TrainError, match="needs a CUDA GPU"):
        choose_backend(TrainConfig(backend="unsloth"))


def test_sft_lowers_the_loss_and_the_saved_adapter_gives_the_same_logits(tiny_folder, tmp_path):
    import torch

    from core.model.loading import load_model

    rows = short_rows()
    config = TrainConfig(
        lr=5e-3, epochs=12, batch_size=4, grad_accum=1, warmup=0.0, lora_r=8, patience=0
    )
    trainable = load_for_training(tiny_folder, config, "peft")
    tokenizer = trainable.tokenizer
    with torch.inference_mode():
        before, tokens = masked_loss(trainable.model, tokenizer, rows)
    model = add_lora(trainable, config)
    result = train_sft(model, trainable, rows, rows[:2], config, tmp_path / "work")
    assert result.steps == 24 and result.train_loss and result.eval_loss and result.tokens > 0
    model.eval()
    with torch.inference_mode():
        after, _ = masked_loss(model, tokenizer, rows)
    assert tokens > 0 and after < before - 0.5, (before, after)

    model.peft_config["default"].base_model_name_or_path = tiny_folder
    model.save_pretrained(str(tmp_path / "adapter"))
    reloaded = load_model(tiny_folder, adapter=str(tmp_path / "adapter"), device="cpu")
    ids = torch.tensor([render_with_mask(tokenizer, rows[3]["messages"], [False, True])[0]])
    with torch.inference_mode():
        mine = model(input_ids=ids).logits
        theirs = reloaded.model(input_ids=ids).logits
    assert torch.allclose(mine, theirs, atol=1e-5)


@pytest.mark.parametrize("swap", [False, True], ids=["as-recorded", "swapped"])
def test_dpo_moves_the_margin_towards_the_chosen_turn(tiny_folder, tmp_path, swap):
    import torch

    config = TrainConfig(
        pref_lr=5e-3, pref_epochs=8, batch_size=4, grad_accum=1, warmup=0.0, lora_r=8, patience=0
    )
    trainable = load_for_training(tiny_folder, config, "peft")
    model = add_lora(trainable, config)
    measured = pairs()  # always the margin of the original chosen over the original rejected
    with torch.inference_mode():
        before = sum(
            map(summed_margin, preference_scores(model, trainable.tokenizer, measured))
        ) / len(measured)
    rows = {
        "preference": {"train": pairs(swap=swap), "eval": []},
        "kto": {"train": [], "eval": []},
    }
    result = train_preference(model, trainable, rows, config, tmp_path / "work")
    assert result is not None and result.stage == "dpo" and result.steps == 8
    assert list(model.peft_config) == ["default"]  # the reference copy is gone
    model.eval()
    with torch.inference_mode():
        after = sum(
            map(summed_margin, preference_scores(model, trainable.tokenizer, measured))
        ) / len(measured)
    if swap:
        assert after < before - 1.0, (before, after)
    else:
        assert after > before + 1.0, (before, after)


def test_kto_runs_when_there_are_only_ratings(tiny_folder, tmp_path):
    config = TrainConfig(pref_lr=1e-3, max_steps=2, batch_size=2, grad_accum=1, patience=0)
    trainable = load_for_training(tiny_folder, config, "peft")
    model = add_lora(trainable, config)
    ratings = [
        {
            "prompt": p["prompt"],
            "completion": p["chosen"] if i % 2 else p["rejected"],
            "label": bool(i % 2),
        }
        for i, p in enumerate(pairs())
    ]
    rows = {"preference": {"train": [], "eval": []}, "kto": {"train": ratings, "eval": []}}
    result = train_preference(model, trainable, rows, config, tmp_path / "work")
    assert result is not None and result.stage == "kto" and result.steps == 2
    assert all(loss == loss for _, loss in result.train_loss)  # no NaN
