"""The settings of a training run: defaults for small data, the config file, the command line.

`TrainConfig` holds every setting; `load_config` starts from its defaults, applies the `[train]`
table of `config.toml` in the data folder, then the command line's overrides (strings from
`--set KEY=VALUE` are converted to each setting's type), and checks the result. An unknown key or a
value of the wrong type is a `TrainError` naming the key. It knows nothing of models or data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config_file import ConfigFileError, read_table


class TrainError(RuntimeError):
    """A training run that cannot go ahead; the message says what to do."""


@dataclass
class TrainConfig:
    """Every setting of a run. Defaults suit a few dozen corrected sessions on one GPU."""

    epochs: float = 3.0
    lr: float = 5e-4
    """SFT's peak learning rate. `bench/learn.py` on the embedded model and the shipped sessions:
    5e-4 lowered held-out loss 14.4 % and raised the well-formed share of the fixed prompts from
    0.77 to 0.83; 1e-3 lowered the loss as much (14.3 %) but dropped that share to 0.50."""
    batch_size: int = 2
    grad_accum: int = 2
    max_steps: int = 0
    """At most this many optimizer steps in each stage (SFT, DPO, KTO); 0 = run the epochs."""
    max_length: int = 2048
    """Context for training: longer chats become windows (`training.window`), never cut."""
    gradient_checkpointing: float = 0.75
    """The share of decoder layers whose activations are recomputed in the backward pass instead
    of kept (spread evenly through the model): 1 holds the least memory, 0 is fastest. Measured
    with `bench/learn.py` on the embedded model and the shipped sessions (2 CPU cores): 0.5
    trained in 1640 s with a 4.4 GB peak, 0.75 in 1787 s with 3.7 GB; on 8 rows alone, all
    layers ran at 147 tokens/s in 1.7 GB, half at 205 in 2.6 GB, none at 259 in 3.8 GB.
    `true` and `false` mean 1 and 0. Unsloth (CUDA) recomputes in its own way and ignores it."""
    warmup: float = 0.1
    """Warm-up, as a share of the steps."""
    scheduler: str = "cosine"
    weight_decay: float = 0.0
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    """Dropout on the LoRA branch's input. 0 by default: on the CPU a dropout of 0.05 made each
    step 1.6x slower (a fresh mask for every adapted layer's input), and the held-out evaluation
    with early stopping already guards against overfitting."""
    lora_targets: str = "all-linear"
    """"all-linear", or module names separated by commas (q_proj,v_proj)."""
    eval_share: float = 0.2
    eval_every: int = 0
    """Evaluate every N steps; 0 = once an epoch, or four times in a shorter run."""
    patience: int = 2
    """Stop after this many evaluations without a lower eval loss; 0 = never."""
    preference: bool = False
    """Run DPO (or KTO) after SFT when there are preference pairs (or ratings). Off by default:
    `bench/learn.py` on the embedded model and the shipped sessions, from the same SFT adapter,
    SFT alone left 0.875 of the held-out prompts well-formed without the grammar (0.75 before)
    and 0.93 of the fixed prompts (0.77); DPO after it lowered those to 0.625 and 0.93 (6 steps),
    0.375 and 0.73 (11 steps), 0.375 and 0.77 (11 steps with the chosen turns' NLL added), its
    turns running past the token budget, for no lower held-out loss (1.998 alone, 2.001-2.007).
    The held-out pairs were ranked right by SFT alone (reward accuracy 1.0)."""
    pref_epochs: float = 1.0
    pref_lr: float = 1e-4
    beta: float = 0.1
    seed: int = 0
    load_in_4bit: bool = True
    """On CUDA only; the CPU trains on the float32 base."""
    mixed_precision: str = "auto"
    """The forward passes of training: "bf16" (autocast to bfloat16; the LoRA weights, their
    gradients and the evaluations stay float32), "no", or "auto": bf16 on a CPU whose bfloat16
    matrix products are at least 1.5 times as fast as its float32 ones (measured at the start),
    else no."""
    backend: str = "auto"
    """"auto" (Unsloth on CUDA when installed, else PEFT), "unsloth" or "peft"."""
    examples: bool = True
    """Learn from the curated XML sessions in data/sessions too."""
    eval_prompts: int = 16
    """At most this many held-out prompts for the format check."""
    eval_max_new_tokens: int = 256

    def validate(self) -> TrainConfig:
        checks = [
            (self.epochs > 0, "epochs must be above 0"),
            (self.lr > 0 and self.pref_lr > 0, "learning rates must be above 0"),
            (self.batch_size >= 1 and self.grad_accum >= 1, "batch sizes must be at least 1"),
            (self.max_steps >= 0, "max_steps must be 0 (no limit) or more"),
            (self.lora_r >= 1, "lora_r must be at least 1"),
            (0 <= self.eval_share < 1, "eval_share must be from 0 up to (not including) 1"),
            (0 <= self.warmup < 1, "warmup is a share of the steps, from 0 up to 1"),
            (self.backend in ("auto", "unsloth", "peft"), "backend is auto, unsloth or peft"),
            (self.mixed_precision in ("auto", "bf16", "no"), "mixed_precision is auto, bf16 or no"),
            (self.max_length >= 16, "max_length must be at least 16 tokens"),
            (
                0 <= self.gradient_checkpointing <= 1,
                "gradient_checkpointing is a share of the layers, from 0 to 1 (or true / false)",
            ),
            (0 <= self.lora_dropout < 1, "lora_dropout must be from 0 up to (not including) 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise TrainError(f"training setting: {message}")
        return self


SETTINGS = {f.name: f for f in dataclasses.fields(TrainConfig)}
BOOLS = {"1": True, "true": True, "yes": True, "on": True}
BOOLS |= {"0": False, "false": False, "no": False, "off": False}


def coerce(name: str, value: Any) -> Any:
    """`value` (from TOML or a command-line string) as the type of setting `name`."""
    if name not in SETTINGS:
        raise TrainError(f"unknown training setting {name!r}; known: {', '.join(sorted(SETTINGS))}")
    kind = type(getattr(TrainConfig(), name))
    if name == "gradient_checkpointing" and str(value).strip().lower() in BOOLS:
        return float(BOOLS[str(value).strip().lower()])
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in BOOLS:
            return BOOLS[text]
        raise TrainError(f"training setting {name} wants true or false, not {value!r}")
    try:
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        raise TrainError(
            f"training setting {name} wants a {kind.__name__}, not {value!r}"
        ) from None


def load_config(home: Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults, then `[train]` of `<home>/config.toml`, then `overrides` (the command line)."""
    values: dict[str, Any] = {}
    try:
        table = read_table(home, "train", "a table of settings")
    except ConfigFileError as error:
        raise TrainError(str(error)) from error
    values.update({k: coerce(k, v) for k, v in table.values.items()})
    values.update({k: coerce(k, v) for k, v in (overrides or {}).items() if v is not None})
    return TrainConfig(**values).validate()
