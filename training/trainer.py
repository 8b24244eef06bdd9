"""Training a LoRA adapter: the model to train, then SFT, then DPO or KTO, with TRL.

`load_for_training` gives the base model and tokenizer: with Unsloth's 4-bit loader on a CUDA GPU
where Unsloth is installed, else through `core.models.load_model` (bitsandbytes 4-bit on CUDA,
float32 on the CPU), so the tokenizer is fixed up exactly as the app does. `add_lora` puts a LoRA
on every linear layer; `train_sft` trains it on the SFT rows (loss on the good assistant turns
only, the mask from `training.datasets`), and `train_preference` goes on from that adapter with DPO
(preference pairs) or KTO (ratings), the SFT adapter as the reference. Each stage evaluates on the
held-out sessions and stops early when the eval loss stops improving. The settings are
`training.settings.TrainConfig`.

What it does not do: build the rows (`training.build`), evaluate (`training.evaluate`), save or
find adapters (`training.registry`), or print anything but the progress line it is handed.
Unsloth is only ever imported when CUDA is available; torch, transformers, trl, peft and datasets
are imported inside the functions.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.settings import TrainConfig, TrainError
from training.trl_compat import ensure_loss_kernel


def cuda_available() -> bool:
    import torch

    try:
        return bool(torch.cuda.is_available())
    except (RuntimeError, AssertionError):  # a broken driver counts as no GPU
        return False


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
    if backend == "unsloth":
        # Imported before trl and peft touch the model: Unsloth patches them on import.
        from unsloth import FastLanguageModel

        from core.models import load_tokenizer

        model, _ = FastLanguageModel.from_pretrained(
            model_name=model_id,
            max_seq_length=config.max_length,
            load_in_4bit=config.load_in_4bit,
            dtype=None,
        )
        # The app's tokenizer (pad token, chat template) so that training sees the app's text.
        _, tokenizer = load_tokenizer(model_id, progress=progress)
        return Trainable(model, tokenizer, model_id, backend, "cuda", config.load_in_4bit)
    from core.models import load_model

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
    if trainable.backend == "unsloth":
        from unsloth import FastLanguageModel

        return FastLanguageModel.get_peft_model(
            model,
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=targets,
            bias="none",
            use_gradient_checkpointing="unsloth",
            random_state=config.seed,
        )
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    torch.manual_seed(config.seed)  # the LoRA A matrices are random: same seed, same start
    if trainable.quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, lora)
    if trainable.device == "cuda" and not trainable.quantized:
        peft_model.enable_input_require_grads()  # gradient checkpointing needs grads at the input
    return peft_model


@dataclass
class StageResult:
    """What one stage (sft, dpo or kto) did, for the summary and the registry."""

    stage: str
    steps: int = 0
    seconds: float = 0.0
    tokens: int = 0
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


def _args(
    config: TrainConfig, trainable: Trainable, workdir: Path, rows: int, has_eval: bool, stage: str
) -> dict[str, Any]:
    """The TrainingArguments shared by the three TRL configs."""
    import torch

    sft = stage == "sft"
    epochs = config.epochs if sft else config.pref_epochs
    per_epoch = max(1, math.ceil(rows / (config.batch_size * config.grad_accum)))
    total = config.max_steps or math.ceil(per_epoch * epochs)
    every = config.eval_every or max(1, min(per_epoch, math.ceil(total / 4)))
    cuda = trainable.device == "cuda"
    bf16 = cuda and torch.cuda.is_bf16_supported()
    return {
        "output_dir": str(workdir / stage),
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.grad_accum,
        "num_train_epochs": epochs,
        "max_steps": config.max_steps or -1,
        "learning_rate": config.lr if sft else config.pref_lr,
        "lr_scheduler_type": config.scheduler,
        "warmup_steps": config.warmup,
        "weight_decay": config.weight_decay,
        "logging_strategy": "steps",
        "logging_steps": 1,
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": every,
        # Early stopping keeps the best adapter, which needs checkpoints at each evaluation.
        "save_strategy": "steps" if has_eval else "no",
        "save_steps": every,
        "save_total_limit": 2,
        "save_only_model": True,
        "load_best_model_at_end": has_eval,
        "metric_for_best_model": "eval_loss",
        "greater_is_better": False,
        "report_to": "none",
        "disable_tqdm": True,
        "seed": config.seed,
        # TRL turns bf16 on unless told otherwise; the CPU trains in float32.
        "bf16": bf16,
        "fp16": cuda and not bf16,
        # Unsloth checkpoints inside its own LoRA; on the CPU memory is not what runs out.
        "gradient_checkpointing": cuda and trainable.backend == "peft",
        "include_num_input_tokens_seen": "non_padding",
        "use_cpu": not cuda,
        "max_length": config.max_length,
        "dataloader_num_workers": 0,
    }


def _callbacks(config: TrainConfig, has_eval: bool, extra: list[Any]) -> list[Any]:
    from transformers import EarlyStoppingCallback

    stop = [EarlyStoppingCallback(config.patience)] if has_eval and config.patience else []
    return stop + list(extra)


def _run(trainer: Any, stage: str, rows: int) -> StageResult:
    from transformers.trainer_callback import PrinterCallback

    from core.tiny_model import quiet_progress_bars

    ensure_loss_kernel()
    trainer.remove_callback(PrinterCallback)  # it prints raw log dicts; our progress line says it
    started = time.perf_counter()
    with quiet_progress_bars():
        trainer.train()
    state = trainer.state
    result = StageResult(stage, steps=state.global_step, seconds=time.perf_counter() - started)
    result.tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
    result.rows = rows
    for entry in state.log_history:
        if "loss" in entry and "step" in entry:
            result.train_loss.append((entry["step"], float(entry["loss"])))
        if "eval_loss" in entry:
            result.eval_loss.append((entry["step"], float(entry["eval_loss"])))
    result.best_eval_loss = state.best_metric
    total = state.max_steps or state.global_step
    result.stopped_early = bool(result.eval_loss) and state.global_step < total
    return result


def quiet_datasets() -> None:
    """No progress bars from `datasets` (one per map and save): our progress line says enough."""
    import datasets

    datasets.disable_progress_bars()


def train_sft(
    model: Any,
    trainable: Trainable,
    train_rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]],
    config: TrainConfig,
    workdir: Path,
    callbacks: list[Any] = (),
) -> StageResult:
    """Train the LoRA of `model` on SFT rows, the loss on the good assistant turns only."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from training.build import tokenize_sft

    if not train_rows:
        raise TrainError(
            "nothing to train on: accept, edit or rate some turns first "
            "(`kyzel-tui --train --review` shows what would be used)"
        )
    quiet_datasets()
    tokenizer = trainable.tokenizer
    train = Dataset.from_list(_trim(tokenize_sft(tokenizer, train_rows)))
    evaluation = Dataset.from_list(_trim(tokenize_sft(tokenizer, eval_rows))) if eval_rows else None
    has_eval = evaluation is not None
    args = SFTConfig(**_args(config, trainable, workdir, len(train), has_eval, "sft"))
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        callbacks=_callbacks(config, has_eval, list(callbacks)),
    )
    return _run(trainer, "sft", len(train))


def _trim(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"input_ids": r["input_ids"], "assistant_masks": r["assistant_masks"]} for r in records]


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def preference_dataset(rows: list[dict[str, Any]]) -> Any:
    """Preference rows in TRL's conversational form: prompt messages, chosen and rejected turns."""
    from datasets import Dataset

    return Dataset.from_list(
        [
            {
                "prompt": r["prompt"],
                "chosen": _assistant(r["chosen"]),
                "rejected": _assistant(r["rejected"]),
            }
            for r in rows
        ]
    )


def kto_dataset(rows: list[dict[str, Any]]) -> Any:
    from datasets import Dataset

    return Dataset.from_list(
        [
            {"prompt": r["prompt"], "completion": _assistant(r["completion"]), "label": r["label"]}
            for r in rows
        ]
    )


def train_preference(
    model: Any,
    trainable: Trainable,
    rows: dict[str, dict[str, list[dict[str, Any]]]],
    config: TrainConfig,
    workdir: Path,
    callbacks: list[Any] = (),
) -> StageResult | None:
    """DPO on the preference pairs, else KTO on the ratings, else nothing (None).

    `model` carries the SFT adapter ("default"); TRL copies it as the frozen reference ("ref"),
    which is removed again afterwards so that only the trained adapter is left to save.
    """
    pairs, ratings = rows["preference"], rows["kto"]
    if pairs["train"]:
        stage, train_rows, eval_rows = "dpo", pairs["train"], pairs["eval"]
    elif ratings["train"]:
        stage, train_rows, eval_rows = "kto", ratings["train"], ratings["eval"]
    else:
        return None
    quiet_datasets()
    has_eval = bool(eval_rows)
    base_args = _args(config, trainable, workdir, len(train_rows), has_eval, stage)
    extra = _callbacks(config, has_eval, list(callbacks))
    if stage == "dpo":
        from trl import DPOConfig, DPOTrainer

        trainer = DPOTrainer(
            model=model,
            args=DPOConfig(**base_args, beta=config.beta),
            train_dataset=preference_dataset(train_rows),
            eval_dataset=preference_dataset(eval_rows) if has_eval else None,
            processing_class=trainable.tokenizer,
            callbacks=extra,
        )
    else:
        from trl import KTOConfig, KTOTrainer

        # KTO estimates its KL term from the other rows of a batch: it needs two or more.
        base_args["per_device_train_batch_size"] = max(2, config.batch_size)
        base_args["per_device_eval_batch_size"] = max(2, config.batch_size)
        trainer = KTOTrainer(
            model=model,
            args=KTOConfig(**base_args, beta=config.beta),
            train_dataset=kto_dataset(train_rows),
            eval_dataset=kto_dataset(eval_rows) if has_eval else None,
            processing_class=trainable.tokenizer,
            callbacks=extra,
        )
    result = _run(trainer, stage, len(train_rows))
    drop_reference(model)
    return result


def drop_reference(model: Any) -> None:
    """Remove the "ref" adapter DPO/KTO added, leaving "default" active."""
    configs = getattr(model, "peft_config", {})
    if "ref" in configs:
        model.set_adapter("default")
        model.delete_adapter("ref")
