"""Training's cheaper forward passes give the figures of the plain ones: a DPO pair scored in one
pass (the shared prompt run once) equals the pair scored apart, values and gradients; bf16
autocast on the CPU stays close to float32 and leaves the weights and gradients in float32."""

from __future__ import annotations

import pytest
from test_training_trainer import pairs, short_rows, tiny_folder  # noqa: F401

from core.chat import task_messages
from training.datasets import render_with_mask
from training.settings import TrainConfig, TrainError


def lora_model(folder: str, config: TrainConfig | None = None):
    import torch

    from training.trainer import add_lora, load_for_training

    config = config or TrainConfig(lora_dropout=0.0)
    trainable = load_for_training(folder, config, "peft")
    model = add_lora(trainable, config)
    noise = torch.Generator().manual_seed(3)
    with torch.no_grad():  # B starts at zero, which would leave A without a gradient
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=noise) * 0.05)
    model.train()
    return trainable, model


def pair(tokenizer, task: str = "Count the lines of every .py file under src") -> list[tuple]:
    messages = task_messages(task)
    turns = [
        "<thought>walk the tree</thought>\n<code>import os\nprint(len(os.listdir('src')))</code>",
        "<thought>say it</thought>\n<answer>Use `wc -l src/*.py`.</answer>",
    ]
    trainable = [False] * len(messages) + [True]
    return [
        render_with_mask(tokenizer, [*messages, {"role": "assistant", "content": t}], trainable)
        for t in turns
    ]


def decoder_calls(model) -> list[int]:
    """A list that grows by one at each forward pass of the model's decoder."""
    calls: list[int] = []
    model.get_base_model().get_decoder().register_forward_hook(lambda *_: calls.append(1))
    return calls


def scores_and_grads(model, run) -> tuple[list, dict]:
    model.zero_grad()
    scores = run()
    sum(s.sum() * (1 if i == 0 else -1) for i, s in enumerate(scores)).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return [s.detach() for s in scores], grads


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_a_pair_scored_in_one_pass_equals_the_pair_scored_apart(tiny_folder, attention):  # noqa: F811
    import torch

    from training.loss import shared_logprobs, token_logprobs

    trainable, model = lora_model(tiny_folder)
    model.get_base_model().set_attn_implementation(attention)
    seqs = pair(trainable.tokenizer)
    calls = decoder_calls(model)
    apart, grads_apart = scores_and_grads(model, lambda: [token_logprobs(model, *s) for s in seqs])
    assert len(calls) == 2
    one, grads_one = scores_and_grads(model, lambda: shared_logprobs(model, seqs))
    assert len(calls) == 3  # one more forward pass for both sequences
    for a, b in zip(apart, one, strict=True):
        assert a.shape == b.shape and a.numel() > 5
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    assert len(grads_one) > 4
    for name, grad in grads_apart.items():
        assert grad.abs().max() > 0, name
        torch.testing.assert_close(grads_one[name], grad, rtol=1e-3, atol=1e-6)


def test_sequences_without_a_shared_start_are_scored_apart_as_are_windowed_models(tiny_folder):  # noqa: F811
    import torch

    from training.loss import _takes_tree_mask, shared_logprobs, token_logprobs

    trainable, model = lora_model(tiny_folder)
    model.eval()
    seqs = pair(trainable.tokenizer)
    other = (seqs[1][0][5:], seqs[1][1][5:])  # not the same start: nothing to share
    calls = decoder_calls(model)
    with torch.no_grad():
        apart = [token_logprobs(model, *s) for s in (seqs[0], other)]
        shared = shared_logprobs(model, [seqs[0], other])
    assert len(calls) == 4
    for a, b in zip(shared, apart, strict=True):
        torch.testing.assert_close(a, b)
    # A tree mask would replace a sliding window's own mask, and flash attention takes none.
    config = model.get_base_model().config
    assert _takes_tree_mask(model)
    kinds = config.layer_types
    config.layer_types = ["sliding_attention", *kinds[1:]]
    assert not _takes_tree_mask(model)
    config.layer_types = None
    config.sliding_window, config.use_sliding_window = 512, True
    assert not _takes_tree_mask(model)
    config.layer_types, config.use_sliding_window = kinds, False
    config._attn_implementation = "flash_attention_2"
    assert not _takes_tree_mask(model)


def test_bf16_autocast_is_close_to_float32_and_keeps_float32_weights(tiny_folder):  # noqa: F811
    import torch

    from training.loss import computing_in, token_logprobs

    trainable, model = lora_model(tiny_folder)
    seqs = pair(trainable.tokenizer)
    types: list[torch.dtype] = []
    linear = next(m for n, m in model.named_modules() if n.endswith("q_proj.base_layer"))
    linear.register_forward_hook(lambda _m, _i, out: types.append(out.dtype))

    def run():
        return [token_logprobs(model, *s) for s in seqs]

    full, grads = scores_and_grads(model, run)
    with computing_in("cpu", torch.bfloat16):
        half, grads_half = scores_and_grads(model, run)
    assert types[0] == torch.float32 and torch.bfloat16 in types[len(seqs) :]
    for a, b in zip(full, half, strict=True):
        assert b.dtype == torch.float32
        assert abs(float(b.sum() - a.sum())) < 0.02 * abs(float(a.sum()))
    flat = torch.cat([g.reshape(-1) for g in grads.values()])
    flat_half = torch.cat([g.reshape(-1) for g in grads_half.values()])
    assert all(g.dtype == torch.float32 for g in grads_half.values())
    assert torch.nn.functional.cosine_similarity(flat, flat_half, dim=0) > 0.98


def test_the_precision_setting_decides_and_the_stage_says_which_ran(tiny_folder):  # noqa: F811
    import torch

    from training.trainer import compute_dtype, train_preference, train_sft

    assert compute_dtype(TrainConfig(mixed_precision="no"), "cpu") is None
    assert compute_dtype(TrainConfig(mixed_precision="bf16"), "cpu") is torch.bfloat16
    assert compute_dtype(TrainConfig(), "cuda") is None  # on CUDA, auto keeps the loaded types
    assert compute_dtype(TrainConfig(), "cpu") in (None, torch.bfloat16)  # measured here
    with pytest.raises(TrainError, match="mixed_precision"):
        TrainConfig(mixed_precision="fp8").validate()
    rows = {"preference": {"train": pairs(2), "eval": []}, "kto": {"train": [], "eval": []}}
    for setting, name in (("bf16", "bf16"), ("no", "float32")):
        config = TrainConfig(mixed_precision=setting, max_steps=1, batch_size=2, grad_accum=1)
        trainable, model = lora_model(tiny_folder, config)
        assert train_sft(model, trainable, short_rows(2), [], config).precision == name
        assert train_preference(model, trainable, rows, config).precision == name
