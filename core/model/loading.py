"""Loading the model that answers: a Hugging Face causal LM, its tokenizer, and an optional adapter.

`load_model` takes a hub id, a local `save_pretrained` folder, a `.gguf` file (or a folder holding
one; converted once by `core.model.gguf`) or `smollm2` (the embedded model, `core.model.embedded`)
and returns a `LoadedModel`. Real models load in 4-bit NF4 by bitsandbytes wherever it runs (CUDA,
and the CPU), tiny ones in full precision; `precision` ("4bit", "bf16", "fp32") overrides that. The
tokenizer is made fit for the turn grammar: a byte-level decoder is normalised, it must have an
EOS token (a turn ends with it), it gets a pad token if it has none and a ChatML chat template
(after BOS, when the tokenizer uses one) if it has none, and it passes
`core.model.tokenizer_repair`'s self-test, so that a broken tokenizer is one clear error at load
time.
A PEFT LoRA adapter (what `--train` writes) can be put on top; it is refused when it was trained
on another base model (`core.model.adapters`). Without a model id, `core.model.hardware` picks a
Qwen2.5-Coder size that fits the hardware, and `load_demo` gives the tiny random model of
`core.model.tiny`, for tests (`--demo random`).
`load_or_explain` falls back to the embedded model, with a notice, when the hardware's default is
neither cached nor downloadable.

Every failure the user can act on (a missing folder, a hub id that is not cached while offline,
a model that is not a causal LM, no EOS, not enough GPU memory, a mismatched adapter) comes out as
a `ModelLoadError` whose message says what to do.

What it does not do: run a model's own code (`trust_remote_code`), merge adapters, pick a
revision, or shard a model across several GPUs (everything goes to GPU 0). Hub ids are read from
the local cache first; the network is used only for what the cache lacks, never when
`HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) is set, even if it was set after start-up, and
only after a two-second check that the hub answers.
torch, transformers and peft are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.model.adapters import adapter_folder, apply_adapter, looks_like_path
from core.model.hardware import (
    choose_device,
    cuda_dtype,
    default_model_id,
    detect_hardware,
    out_of_memory_message,
    precision_name,
)
from core.model.hub import (
    ModelLoadError,
    ModelUnavailable,
    fetch,
    first_line,
    hub_offline,
)
from core.model.source import (
    SHORT_NAMES,
    choose_precision,
    local_source,
    nf4_config,
    nf4_copy,
    save_nf4_copy,
)
from core.model.templates import CHATML_TEMPLATE, CHATML_TEMPLATE_BOS

Progress = Callable[[str], None]


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    model_id: str
    """As the user named it (hub id or folder)."""
    device: str
    """Either "cuda" or "cpu"."""
    quantized: bool
    """Weights in 4-bit NF4."""
    adapter: str | None
    """The PEFT adapter folder loaded on top, if any."""
    label: str
    """One line for a status bar."""
    demo: bool = False
    """The built-in random demo model."""
    notice: str | None = None
    """What the user should know about this load (a fallback model, and why)."""


DEMO_LABEL = "DEMO: random tiny model (noise shaped by the grammar)"
EMBEDDED = "smollm2"

_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")


def load_model(
    model_id: str | None = None,
    *,
    adapter: str | None = None,
    device: str | None = None,
    quantize: bool | None = None,
    precision: str | None = None,
    progress: Progress | None = None,
) -> LoadedModel:
    """Load a causal LM and its tokenizer (and an adapter) for generation, or say what to do.

    `precision` is "4bit", "bf16" or "fp32" (default: 4-bit for real models where bitsandbytes
    runs); `quantize` is the older switch (True: "4bit", False: full precision).
    """
    report = progress or (lambda _message: None)
    if model_id is None:
        model_id = default_model_id(detect_hardware())
    folder = _local_folder(model_id, report)
    device = choose_device(device)
    # Checked before any weights load: a wrong adapter should not cost a minute of loading.
    checked = adapter_folder(adapter, model_id, folder) if adapter is not None else None
    source = str(folder) if folder is not None else model_id
    cache_only = folder is not None or hub_offline()

    report(f"reading the config of {model_id}")
    config = fetch("AutoConfig", source, model_id, cache_only, report)
    _check_causal(model_id, config)
    precision = _choose(device, precision, quantize, config)
    quantize = precision == "4bit"
    report("loading tokenizer")
    tokenizer = _load_tokenizer(source, model_id, folder, cache_only, report)
    report(f"loading weights ({precision_name(device, precision)}, {device})")
    model = _load_weights(
        source, model_id, config.model_type, device, precision, cache_only, report
    )
    if model.generation_config.pad_token_id is None:  # else generate() warns on every call
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if checked is not None:
        report(f"loading adapter {adapter}")
        model = apply_adapter(model, checked, adapter, model_id)
    model.eval()
    label = _label(model_id, folder, device, precision, adapter)
    return LoadedModel(model, tokenizer, model_id, device, quantize, adapter, label)


def load_demo(
    cache_dir: str | Path | None = None,
    *,
    adapter: str | None = None,
    progress: Progress | None = None,
) -> LoadedModel:
    """The tiny random model of `core.model.tiny` (built on first use), on CPU, marked as a demo."""
    from core.model.tiny import TinySpec, build_tiny_model

    if progress is not None:
        progress("preparing the demo model (built once, a few seconds)")
    folder = build_tiny_model(TinySpec(), cache_dir)
    loaded = load_model(
        str(folder), adapter=adapter, device="cpu", precision="fp32", progress=progress
    )
    label = DEMO_LABEL + (f" · adapter {Path(adapter).name}" if adapter else "")
    return replace(loaded, demo=True, label=label)


def load_tokenizer(
    model_id: str | None = None, *, demo: bool | str = False, progress: Progress | None = None
) -> tuple[str, Any]:
    """(a label, the tokenizer) of a model, without its weights: enough for checking turns.

    `demo` is "random" for the tiny random model's tokenizer, or True for the embedded model's.
    """
    report = progress or (lambda _message: None)
    random = demo == "random"
    if random:
        from core.model.tiny import TinySpec, build_tiny_model

        model_id = str(build_tiny_model(TinySpec()))
    elif demo:
        model_id = EMBEDDED
    elif model_id is None:
        model_id = default_model_id(detect_hardware())
    folder = _local_folder(model_id, report)
    source = str(folder) if folder is not None else model_id
    cache_only = folder is not None or hub_offline()
    report(f"loading the tokenizer of {model_id}")
    tokenizer = _load_tokenizer(source, model_id, folder, cache_only, report)
    return (DEMO_LABEL if random else model_id), tokenizer


def load_or_explain(
    model_id: str | None,
    *,
    demo: bool | str,
    adapter: str | None = None,
    precision: str | None = None,
    progress: Progress | None = None,
    default_adapter: Callable[[str], str | None] | None = None,
) -> LoadedModel:
    """What the app calls: the embedded model for `demo` (True), the random one for
    `demo="random"`, else `load_model`. When the hardware's default (no `model_id`) is neither
    cached nor reachable, the embedded model is loaded instead, with a `notice` saying so; any
    other ModelLoadError goes to the caller, which prints it.

    `default_adapter`, used when no `adapter` is named (not for the random model), gives the
    adapter for a model id: asked for the model that actually loads, so that the embedded model
    standing in for the default gets its own adapter, not the default's."""
    if demo == "random":
        return load_demo(adapter=adapter, progress=progress)
    if demo:
        model_id = EMBEDDED

    def pick(loading: str) -> str | None:
        named = adapter is not None or default_adapter is None
        return adapter if named else default_adapter(loading)

    wanted = model_id or default_model_id(detect_hardware())
    try:
        return load_model(model_id, adapter=pick(wanted), precision=precision, progress=progress)
    except ModelUnavailable:
        if model_id is not None or adapter is not None:
            raise
        if progress is not None:
            progress(f"{wanted} is not available offline; loading the embedded model instead")
        loaded = load_model(
            EMBEDDED, adapter=pick(EMBEDDED), precision=precision, progress=progress
        )
        loaded.notice = fallback_notice(wanted)
        return loaded


def fallback_notice(wanted: str) -> str:
    """What the user reads when the embedded model stands in for the hardware's default."""
    return (
        f"Could not get {wanted}: it is not in the local Hugging Face cache and the hub cannot "
        "be reached. Using the small embedded model (SmolLM2-135M-Instruct) instead. For a "
        f"better one, download it where there is network (`hf download {wanted}`) and start "
        "again, or start with --model PATH (a model folder or a .gguf file)."
    )


def _local_folder(model_id: str, report: Progress) -> Path | None:
    """The folder `model_id` names, checked (a GGUF file or `smollm2` converted first); None for
    a hub id."""
    from core.model.embedded import EmbeddedMissing
    from core.model.gguf import GGUFError

    if model_id.lower() not in SHORT_NAMES and not looks_like_path(model_id):
        return None
    try:
        converted = local_source(model_id, report)
    except (EmbeddedMissing, GGUFError) as error:
        raise ModelLoadError(str(error)) from None
    if converted is not None and converted.is_dir() and (converted / "config.json").is_file():
        return converted
    folder = Path(model_id).expanduser()
    if not folder.exists():
        raise ModelLoadError(
            f"model folder {model_id} does not exist; pass a folder that has config.json, "
            "or a hub id"
        )
    if not folder.is_dir():
        raise ModelLoadError(f"{model_id} is a file, not a model folder: pass its folder")
    if not (folder / "config.json").is_file():
        raise ModelLoadError(
            f"model folder {model_id} has no config.json: pass the folder that save_pretrained "
            "wrote (with config.json, the weights and the tokenizer files), or a hub id"
        )
    return folder


def _choose(device: str, precision: str | None, quantize: bool | None, config: Any) -> str:
    if precision is None and quantize is not None:
        precision = "4bit" if quantize else ("fp32" if device == "cpu" else "bf16")
    try:
        return choose_precision(device, precision, config)
    except ValueError as error:
        raise ModelLoadError(str(error)) from None


def _check_causal(model_id: str, config: Any) -> None:
    """Refuse what AutoModelForCausalLM would refuse, and encoders it would accept: BERT-like
    types map to an `...LMHeadModel` that is only a decoder when trained as one, so a checkpoint
    whose architectures name no causal-LM class is refused too."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    model_type = getattr(config, "model_type", None) or "unknown"
    architectures = getattr(config, "architectures", None) or []
    causal_names = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    causal = (
        model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
        and not getattr(config, "is_encoder_decoder", False)
        and (
            not architectures
            or any(a in causal_names or a.endswith(_CAUSAL_SUFFIXES) for a in architectures)
        )
    )
    if not causal:
        raise ModelLoadError(_not_causal(model_id, model_type))


def _not_causal(model_id: str, model_type: str) -> str:
    return (
        f"{model_id} is a {model_type} model, not a causal language model: "
        "choose a text-generation model"
    )


def _load_tokenizer(
    source: str, model_id: str, folder: Path | None, cache_only: bool, report: Progress
) -> Any:
    from core.model.tokenizer_repair import TokenizerBroken, normalise_decoder, self_test

    try:
        tokenizer = fetch("AutoTokenizer", source, model_id, cache_only, report)
    except (ValueError, KeyError, TypeError) as error:  # no or broken tokenizer files
        where = "the folder has no usable tokenizer files" if folder else first_line(str(error))
        raise ModelLoadError(f"cannot load the tokenizer of {model_id}: {where}") from error
    if hasattr(tokenizer, "backend_tokenizer"):
        tokenizer = normalise_decoder(tokenizer)
    # transformers 5 makes an empty tokenizer (one special token) for a qwen2 folder that has no
    # tokenizer files, instead of failing; it would encode every prompt to nothing.
    if not tokenizer.encode("def f(x): return x", add_special_tokens=False):
        fix = "copy its base model's tokenizer files into it" if folder else "choose another model"
        raise ModelLoadError(f"{model_id}'s tokenizer is empty (no tokenizer files?): {fix}")
    if tokenizer.eos_token_id is None:
        raise ModelLoadError(
            f"{model_id}'s tokenizer has no end-of-sequence token, so a turn could never end: "
            "choose another model"
        )
    if tokenizer.pad_token is None:  # batching and generate() want one; EOS is the usual stand-in
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE_BOS if _adds_bos(tokenizer) else CHATML_TEMPLATE
    try:
        self_test(tokenizer, f"the tokenizer of {model_id}")
    except TokenizerBroken as error:
        raise ModelLoadError(str(error)) from None
    return tokenizer


def _adds_bos(tokenizer: Any) -> bool:
    bos = tokenizer.bos_token_id
    return bos is not None and tokenizer.encode("a")[:1] == [bos]


def _load_weights(
    source: str,
    model_id: str,
    model_type: str,
    device: str,
    precision: str,
    cache_only: bool,
    report: Progress,
) -> Any:
    import torch

    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if device == "cuda":
        kwargs = {"dtype": cuda_dtype(), "device_map": {"": 0}}
    elif precision != "fp32":
        kwargs = {"dtype": torch.bfloat16, "device_map": "cpu"}
    if precision == "4bit":
        kwargs["quantization_config"] = nf4_config()
    quantized = nf4_copy(Path(source)) if precision == "4bit" and device == "cpu" else None
    try:
        if quantized is not None and (quantized / "config.json").is_file():
            kwargs.pop("quantization_config")  # the copy says how it is quantised
            return fetch("AutoModelForCausalLM", str(quantized), model_id, True, report, **kwargs)
        if quantized is not None:
            report("quantising to 4-bit (once for this model: kept in the cache)")
        model = fetch("AutoModelForCausalLM", source, model_id, cache_only, report, **kwargs)
        if quantized is not None:
            save_nf4_copy(model, quantized)
        return model
    except ModelLoadError:
        raise
    except torch.cuda.OutOfMemoryError as error:
        raise ModelLoadError(out_of_memory_message(model_id)) from error
    except RuntimeError as error:
        if "CUDA out of memory" in str(error):
            raise ModelLoadError(out_of_memory_message(model_id)) from error
        raise
    except ImportError as error:  # bitsandbytes or accelerate missing or unusable
        raise ModelLoadError(f"cannot load {model_id}: {first_line(str(error))}") from error
    except ValueError as error:
        if "Unrecognized configuration class" in str(error):  # _check_causal missed it
            raise ModelLoadError(_not_causal(model_id, model_type)) from error
        raise ModelLoadError(f"cannot load {model_id}: {first_line(str(error))}") from error


def _label(
    model_id: str, folder: Path | None, device: str, precision: str, adapter: str | None
) -> str:
    # A folder is named by its last part: a status bar has no room for a long path.
    if model_id.lower() in SHORT_NAMES:
        from core.model.embedded import LABEL

        name = LABEL
    elif folder is not None:
        name = Path(model_id).expanduser().name or folder.name
    else:
        name = model_id
    parts = [name, precision_name(device, precision)]
    parts.append(device)
    if adapter is not None:
        parts.append(f"adapter {Path(adapter).expanduser().name}")
    return " · ".join(parts)
