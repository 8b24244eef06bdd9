"""Training a LoRA adapter: the model to train, then SFT, then DPO or KTO.

`load_for_training` gives the base model and tokenizer: with Unsloth's 4-bit loader on a CUDA GPU
where Unsloth is installed, else through `core.model.loading.load_model` (bitsandbytes 4-bit on
CUDA, float32 on the CPU), so the tokenizer is fixed up exactly as the app does. `add_lora` puts a
LoRA on every linear layer; `train_sft` trains it on the SFT rows (loss on the good assistant turns
only, the mask from `training.datasets`), and `train_preference` goes on from that adapter with DPO
(preference pairs) or KTO (ratings), the SFT adapter as the reference (the stages themselves:
`training.stages`, their loop: `training.loop`). Each stage evaluates on the held-out sessions and
stops early when the eval loss stops improving. The settings are `training.settings.TrainConfig`.
Gradient checkpointing is on for three layers in four by default (`recompute_layers`): the others
keep their activations, a trade of memory for speed set by `gradient_checkpointing`.

What it does not do: build the rows (`training.build`), evaluate (`training.evaluate`), save or
find adapters (`training.registry`), or print anything but the progress line it is handed.
Unsloth is only ever imported when CUDA is available; torch, transformers, peft and datasets
are imported inside the functions.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from core.model.hardware import cuda_available
from training.settings import TrainConfig, TrainError


def choose_backend(config: TrainConfig) -> str:
    """ "unsloth" or "peft". Never looks for Unsloth without CUDA: it must not even be imported."""
    if not cuda_available():
        if config.backend == "unsloth":
            raise TrainError("the unsloth backend needs a CUDA GPU: use --set backend=peft")
        return "peft"
    installed = importlib.util.find_spec("unsloth") is not None
    if config.backend == "unsloth" and not installed:
        raise TrainError(
            "unsloth is not installed: pip install 'kyzel-tui[gpu]', or use --set backend=peft"
        )
    if config.backend != "auto":
        return config.backend
    return "unsloth" if installed else "peft"


@dataclass
class Trainable:
    model: Any
    tokenizer: Any
    model_id: str
    """As the app names the base model: what the adapter records as its base."""
    backend: str
    device: str
    quantized: bool


def load_for_training(
    model_id: str, config: TrainConfig, backend: str, progress: Any = None
) -> Trainable:
    """The base model (not yet with a LoRA) and its tokenizer, ready to train."""
    from training.memory import release_freed_memory

    release_freed_memory()  # before the first big tensor: see training.memory
    if backend == "unsloth":
        # Imported before trl and peft touch the model: Unsloth patches them on import.
        from unsloth import FastLanguageModel

        from core.model.loading import load_tokenizer

        model, _ = FastLanguageModel.from_pretrained(
            model_name=model_id,
            max_seq_length=config.max_length,
            load_in_4bit=config.load_in_4bit,
            dtype=None,
        )
        # The app's tokenizer (pad token, chat template) so that training sees the app's text.
        _, tokenizer = load_tokenizer(model_id, progress=progress)
        return Trainable(model, tokenizer, model_id, backend, "cuda", config.load_in_4bit)
    from core.model.loading import load_model

    device = "cuda" if cuda_available() else "cpu"
    quantize = device == "cuda" and config.load_in_4bit
    loaded = load_model(model_id, device=device, quantize=quantize, progress=progress)
    return Trainable(loaded.model, loaded.tokenizer, model_id, backend, device, quantize)


@contextmanager
def for_inference(trainable: Trainable, model: Any) -> Iterator[Any]:
    """`model` set up for evaluation and generation, then back to training.

    Unsloth swaps in its own forward and generate for inference and back for training; PEFT and
    plain transformers models need nothing (evaluation switches eval mode itself).
    """
    if trainable.backend != "unsloth":
        yield model
        return
    from unsloth import FastLanguageModel

    FastLanguageModel.for_inference(model)
    try:
        yield model
    finally:
        FastLanguageModel.for_training(model)


def linear_targets(model: Any) -> list[str]:
    """The names of the model's linear layers (the head excluded): "all linear layers"."""
    import torch

    names = set()
    for name, module in model.named_modules():
        linear = isinstance(module, torch.nn.Linear) or type(module).__name__ == "Linear4bit"
        if linear and "lm_head" not in name:
            names.add(name.rsplit(".", 1)[-1])
    return sorted(names)


def add_lora(trainable: Trainable, config: TrainConfig) -> Any:
    """The model with a fresh, trainable LoRA adapter named "default"."""
    model = trainable.model
    targets = (
        linear_targets(model)
        if config.lora_targets == "all-linear"
        else [t.strip() for t in config.lora_targets.split(",") if t.strip()]
    )
    lora_settings: dict[str, Any] = {
        "r": config.lora_r,
        "lora_alpha": config.lora_alpha,
        "lora_dropout": config.lora_dropout,
        "target_modules": targets,
        "bias": "none",
    }
    if trainable.backend == "unsloth":
        from unsloth import FastLanguageModel

        return FastLanguageModel.get_peft_model(
            model, **lora_settings, use_gradient_checkpointing="unsloth", random_state=config.seed
        )
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    torch.manual_seed(config.seed)  # the LoRA A matrices are random: same seed, same start
    checkpointing = {"use_reentrant": False}  # needs no gradient at the input
    share = float(config.gradient_checkpointing)
    if trainable.quantized:
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=share > 0,
            gradient_checkpointing_kwargs=checkpointing,
        )
    elif share > 0:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=checkpointing)
    if share > 0:
        recompute_layers(model, share)
    return get_peft_model(model, LoraConfig(**lora_settings, task_type="CAUSAL_LM"))


def recompute_layers(model: Any, share: float) -> list[bool]:
    """Recompute the activations of `share` of the decoder layers (spread evenly) in the backward
    pass instead of keeping them, and keep the others': which layers recompute, in order.

    A layer that recomputes holds only its input until the backward pass reaches it, for one more
    forward pass of that layer; `share` trades memory for speed between 0 and 1."""
    layers = [m for m in model.modules() if hasattr(m, "gradient_checkpointing")]
    layers = [m for m in layers if type(m).__name__.endswith("DecoderLayer")]
    chosen = [int((i + 1) * share) > int(i * share) for i in range(len(layers))]
    for layer, recompute in zip(layers, chosen, strict=True):
        layer.gradient_checkpointing = recompute
    return chosen


@dataclass
class StageResult:
    """What one stage (sft, dpo or kto) did, for the summary and the registry."""

    stage: str
    steps: int = 0
    seconds: float = 0.0
    tokens: int = 0
    precision: str = "float32"
    """What the forward passes ran in: "float32", or "bf16" (autocast)."""
    train_loss: list[tuple[int, float]] = field(default_factory=list)
    eval_loss: list[tuple[int, float]] = field(default_factory=list)
    best_eval_loss: float | None = None
    stopped_early: bool = False
    rows: int = 0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "tokens_per_second": self.tokens_per_second}


BF16_GAIN = 1.5
"""How much faster than float32 a CPU's bfloat16 matrix products must be for "auto" to use them."""
_MEASURED: dict[str, float] = {}


def compute_dtype(config: TrainConfig, device: str) -> Any:
    """The dtype the training forward passes autocast to (None: as loaded), from
    `config.mixed_precision`. "auto" measures the CPU once: with AVX-512 BF16 or AMX, bfloat16
    products run 3 to 5 times as fast as float32 ones; without, often slower. On CUDA "auto" keeps
    the loaded types (4-bit layers compute in their own compute dtype)."""
    import torch

    if config.mixed_precision == "no":
        return None
    if config.mixed_precision == "bf16":
        return torch.bfloat16
    if device != "cpu":
        return None
    if "gain" not in _MEASURED:
        from training import distributed
        from training.loop import machine_flops

        def gain() -> float:
            return machine_flops(512, 5, torch.bfloat16) / machine_flops(512, 5, torch.float32)

        # Process 0's measure for every process of a launch: they all compute alike.
        _MEASURED["gain"] = distributed.current().from_main(gain)
    return torch.bfloat16 if _MEASURED["gain"] >= BF16_GAIN else None


def quiet_datasets() -> None:
    """No progress bars from `datasets` (one per map and save): our progress line says enough."""
    import datasets

    datasets.disable_progress_bars()


def train_sft(*args: Any, **kwargs: Any) -> StageResult:
    """`training.stages.train_sft`: SFT of the LoRA on the good assistant turns."""
    from training import stages

    return stages.train_sft(*args, **kwargs)


def train_preference(*args: Any, **kwargs: Any) -> StageResult | None:
    """`training.stages.train_preference`: DPO on pairs, else KTO on ratings, else None."""
    from training import stages

    return stages.train_preference(*args, **kwargs)
