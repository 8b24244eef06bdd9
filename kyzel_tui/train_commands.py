"""The training commands: `--train` (and `--dry-run`), `adapters`, `eval`, and resolving
`--adapter latest` for the app before it starts (`--review` and `exclude`: `data_commands`).

`train` builds the datasets from the store (and the curated examples), then, unless asked only to
review or dry-run, trains SFT and DPO/KTO (`training.trainer`), evaluates before and after
(`training.evaluate`), registers the adapter (`training.registry`) and prints the loss curve, the
summary and how to use the adapter. Errors come out as one line that says what to do. torch and
the training libraries are imported only when a command needs them.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.store.database import Store, StoreError, default_home
from training.registry import RegistryError
from training.settings import TrainError


def _progress(message: str) -> None:
    print(f"· {message}", file=sys.stderr, flush=True)


def data_home(args: argparse.Namespace) -> Path:
    return Path(args.home).expanduser() if args.home else default_home()


def demo_base(build: bool = False) -> str:
    """The demo model's folder, as `core.model.loading.load_demo` names it (built only if asked)."""
    from core.model.tiny import TinySpec, build_tiny_model, default_cache_dir

    if build:
        return str(build_tiny_model(TinySpec()))
    return str(default_cache_dir() / TinySpec().folder_name())


def base_model(model: str | None, demo: bool | str | None, build: bool = False) -> str:
    """The model id the app would use for these options (`demo`: "random" or the embedded)."""
    if demo == "random":
        return demo_base(build)
    from core.model.loading import EMBEDDED

    if demo or (model or "").lower() == EMBEDDED:  # the embedded model, by its converted folder
        from core.model.embedded import smollm2_folder  # (what adapters record as their base)

        return str(smollm2_folder())
    if model:
        return model
    from core.model.loading import default_model_id, detect_hardware

    return default_model_id(detect_hardware())


def app_adapter(args: argparse.Namespace) -> tuple[str | None, bool]:
    """(the adapter folder for the app, or None; False after printing why it cannot start)."""
    return choose_adapter(args.app_adapter, args.app_model, args.app_demo, data_home(args))


def choose_adapter(
    spec: str | None, model: str | None, demo: bool, home: Path
) -> tuple[str | None, bool]:
    """What the app and `ask` load: (folder or None, ok). Without `--adapter`, the newest run on
    this base that won its evaluation (`registry.default_adapter`); `none`: no adapter; else
    what `adapter_folder` finds. Not ok (after a one-line message) when that cannot be found."""
    if spec is not None and spec.lower() == "none":
        return None, True
    if spec is None:
        from training.registry import default_adapter, list_adapters

        if not list_adapters(home):  # nothing trained yet: no need to work out the base model
            return None, True
        info = default_adapter(home, base_model(model, demo))
        return (str(info.path) if info is not None else None), True
    folder = adapter_folder(spec, model, demo, home)
    return folder, folder is not None


def default_adapters(home: Path) -> Callable[[str], str | None]:
    """The default-adapter rule of `choose_adapter` for `load_or_explain`, which asks it for the
    model that actually loads (the embedded model may stand in for the hardware's default)."""
    return lambda model_id: choose_adapter(None, model_id, False, home)[0]


def adapter_folder(spec: str, model: str | None, demo: bool | str | None, home: Path) -> str | None:
    """A folder for `--adapter SPEC` (latest, a run id, a folder), or None after saying why."""
    from training.registry import resolve_adapter

    try:
        if Path(spec).expanduser().is_dir():
            return spec  # a folder: core.model.loading checks it against the model when loading
        base = base_model(model, demo)
        return str(resolve_adapter(home, spec, base, demo_base=demo_base()))
    except RegistryError as error:
        print(f"kyzel-tui: {error}", file=sys.stderr)
        return None


def for_generation(loaded: Any) -> Any:
    """The loaded model ready to generate: its adapter merged into the weights (no decode cost)
    and, for a registered run, labelled with its measured gain (`registry.adapter_label`)."""
    import dataclasses

    from training import registry
    from training.adopt import merged

    if loaded.adapter is None:
        return loaded
    loaded = merged(loaded)
    folder = Path(loaded.adapter).expanduser()
    info = registry.read_run(folder)
    if info is None:
        return loaded
    label = loaded.label.replace(f"adapter {folder.name}", registry.adapter_label(info))
    return dataclasses.replace(loaded, label=label)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {
        "epochs": getattr(args, "train_epochs", None),
        "lr": getattr(args, "train_lr", None),
        "lora_r": getattr(args, "train_lora_r", None),
        "max_steps": getattr(args, "train_max_steps", None),
        "eval_share": getattr(args, "train_eval_share", None),
        "examples": False if getattr(args, "train_no_examples", False) else None,
    }
    for item in getattr(args, "train_set", None) or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise TrainError(f"--set wants KEY=VALUE, not {item!r}")
        values[key.strip().replace("-", "_")] = value.strip()
    return values


def _collect(home: Path, refs: list[str] | None, examples: bool) -> list[Any]:
    from training.build import EXAMPLES, collect

    with Store.open(home) as store:
        ids = [store.resolve(r) for r in refs] if refs else None
        return collect(store, ids, EXAMPLES if examples else None)


def train(args: argparse.Namespace) -> int:
    """`kyzel-tui --train [--review | --dry-run] ...`."""
    from core.model.loading import ModelLoadError
    from training.datasets import MaskError

    try:
        return _train(args)
    except (TrainError, StoreError, RegistryError, ModelLoadError, MaskError) as error:
        print(f"kyzel-tui: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a full disk while saving: the run's staging folder is gone
        print(
            f"kyzel-tui: cannot write the training output: {error.strerror or error}; no adapter "
            "was saved. Free some disk space (or fix the data folder's permissions) and try again",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("\nkyzel-tui: training interrupted; no adapter was saved", file=sys.stderr)
        return 130


def _train(args: argparse.Namespace) -> int:
    from training.build import make_rows
    from training.settings import load_config

    home = data_home(args)
    config = load_config(home, _overrides(args))
    sources = _collect(home, args.train_sessions, config.examples)
    built = make_rows(sources, config.eval_share)
    if args.train_review:
        from kyzel_tui.data_commands import review

        print(review(sources, built))
        return 0
    if not args.train_dry_run and not built.rows["sft"]["train"]:
        raise TrainError(
            "nothing to train on: accept, edit or rate some turns first "
            "(`kyzel-tui --train --review` shows what would be used)"
        )
    from training.trainer import quiet_datasets

    quiet_datasets()
    model_id = base_model(args.app_model, args.app_demo, build=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if args.train_dry_run:
        from core.model.loading import load_tokenizer
        from training.build import dry_run, write

        _, tokenizer = load_tokenizer(model_id, progress=_progress)
        folder = write(built, home / "datasets" / stamp, tokenizer, config.max_length)
        print(dry_run(built, tokenizer, config.max_length))
        print(f"\ndatasets written to {folder}; nothing was trained (drop --dry-run to train)")
        return 0
    return _full_run(args, home, config, built, model_id, stamp)


def _full_run(args, home: Path, config, built, model_id: str, stamp: str) -> int:
    from training import registry
    from training.build import write
    from training.evaluate import compare, evaluate
    from training.plot import progress_bar, save_png, text_plot
    from training.progress import JsonProgress
    from training.trainer import (
        add_lora,
        choose_backend,
        for_inference,
        load_for_training,
        train_preference,
        train_sft,
    )
    from training.window import WindowStats

    backend = choose_backend(config)
    _progress(f"backend: {backend}; base model: {model_id}")
    trainable = load_for_training(model_id, config, backend, progress=_progress)
    folder = write(built, home / "datasets" / stamp, trainable.tokenizer, config.max_length)
    counts = built.manifest["counts"]
    _progress(
        f"datasets in {folder}: "
        + ", ".join(f"{k} {v['train']} train / {v['eval']} eval" for k, v in counts.items())
    )
    held = {"sft": built.rows["sft"]["eval"], "preference": built.rows["preference"]["eval"]}
    measure = {
        "max_length": config.max_length,
        "prompts": config.eval_prompts,
        "max_new_tokens": config.eval_max_new_tokens,
    }
    _progress("evaluating the base model on the held-out sessions")
    with for_inference(trainable, trainable.model) as base:
        before = evaluate(base, trainable.tokenizer, held, **measure)
    run_id = registry.new_run_id(home)
    work = registry.staging(home, run_id)
    json_lines = getattr(args, "train_progress", None) == "json"  # for a program: the app's screen
    windows, bar = WindowStats(), JsonProgress() if json_lines else progress_bar()
    try:
        model = add_lora(trainable, config)
        checkpoints = work / "checkpoints"
        stages = [
            train_sft(
                model,
                trainable,
                built.rows["sft"]["train"],
                built.rows["sft"]["eval"],
                config,
                checkpoints,
                [bar],
                windows,
            )
        ]
        if config.preference:
            pref_stage = train_preference(
                model,
                trainable,
                built.rows,
                config,
                checkpoints,
                [bar],
                windows,
            )
            if pref_stage is not None:
                stages.append(pref_stage)
        _progress("evaluating the adapter on the held-out sessions")
        with for_inference(trainable, model) as tuned:
            after = evaluate(tuned, trainable.tokenizer, held, **measure)
        # The app refuses an adapter whose base is not the model it loads: name it as the app does.
        model.peft_config["default"].base_model_name_or_path = model_id
        model.save_pretrained(str(work), selected_adapters=["default"])
        shutil.rmtree(checkpoints, ignore_errors=True)
        series = {
            f"{s.stage} {kind}": points
            for s in stages
            for kind, points in (("train", s.train_loss), ("eval", s.eval_loss))
        }
        plot = text_plot({k: v for k, v in series.items() if k.startswith("sft")}, title="SFT loss")
        (work / "loss.txt").write_text(plot + "\n", encoding="utf-8")
        for s in stages:
            part = {k: v for k, v in series.items() if k.startswith(s.stage)}
            save_png(part, work / f"loss-{s.stage}.png", title=f"{s.stage.upper()} loss")
        (work / "manifest.json").write_text(json.dumps(built.manifest, indent=2), encoding="utf-8")
        meta = {
            "base_model": model_id,
            "created": time.time(),
            "backend": backend,
            "device": trainable.device,
            "quantized": trainable.quantized,
            "config": vars(config),
            "datasets": str(folder),
            "stages": [s.as_dict() for s in stages],
            "metrics": {"before": before.as_dict(), "after": after.as_dict()},
            "windows": {k: v for k, v in vars(windows).items() if k != "notes"},
            "peak_rss_mib": _peak_rss_mib(),
            "peak_gpu_mib": _peak_gpu_mib() if trainable.device == "cuda" else None,
        }
        won, why = registry.verdict(meta["metrics"])
        meta["verdict"] = {"won": won, "why": why}
        final = registry.commit(home, run_id, meta)
    except BaseException:  # interrupted or failed: no half-written adapter is left behind
        registry.discard(home, run_id)
        raise
    finally:
        bar.close()
    if json_lines:
        bar.result(run_id, won, why, before, after)
        return 0
    print()
    print(plot)
    print()
    print(_stage_table(stages))
    print(_speed_line(stages, model))
    print()
    print(compare(before, after))
    print()
    print(windows.line(config.max_length))
    print(f"adapter {run_id} saved in {final} (loss curves: {final}/loss-*.png)")
    gpu = f", {meta['peak_gpu_mib']:.0f} MiB on the GPU" if meta["peak_gpu_mib"] else ""
    print(f"peak memory: {meta['peak_rss_mib']:.0f} MiB resident{gpu}")
    demo = "--demo random" if args.app_demo == "random" else "--demo"
    option = demo if args.app_demo else f"--model {model_id}" if args.app_model else ""
    prefix = f"kyzel-tui {option + ' ' if option else ''}"
    if won:
        print(f"this run improved ({why}): {prefix.strip()} loads it from now on by default")
    else:
        print(
            f"this run made things worse ({why}): it is kept, but never loaded by default; "
            f"to try it anyway: {prefix}--adapter {run_id}"
        )
    return 0


def _speed_line(stages: list[Any], model: Any) -> str:
    """Training tokens/s beside this machine's rough limit for the model (6 × parameters FLOPs
    a token at the measured matmul speed)."""
    from training.loop import machine_flops, rough_limit

    seconds = sum(s.seconds for s in stages)
    speed = sum(s.tokens for s in stages) / seconds if seconds else 0.0
    params = sum(p.numel() for p in model.parameters())
    flops = machine_flops()
    return (
        f"training: {speed:,.0f} tokens/s; this machine's rough limit for {params / 1e6:,.0f}M "
        f"parameters is {rough_limit(params, flops):,.0f} tokens/s ({flops / 1e9:,.0f} GFLOP/s "
        "measured, 6 FLOPs a parameter a token; checkpointing adds a forward pass)"
    )


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20  # KiB on Linux, bytes on macOS


def _peak_gpu_mib() -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 2**20


def _stage_table(stages: list[Any]) -> str:
    from training.plot import table

    rows = [
        [
            s.stage,
            s.rows,
            s.steps,
            f"{s.seconds:.1f} s",
            round(s.tokens_per_second),
            s.train_loss[-1][1] if s.train_loss else None,
            s.best_eval_loss,
            "yes" if s.stopped_early else "no",
        ]
        for s in stages
    ]
    header = ["stage", "rows", "steps", "time", "tok/s", "last loss", "best eval", "early stop"]
    return table(header, rows)


def adapters(args: argparse.Namespace) -> int:
    """`kyzel-tui adapters`: see `kyzel_tui.adapter_commands`."""
    from kyzel_tui import adapter_commands

    return adapter_commands.adapters(args)


def evaluate_adapter(args: argparse.Namespace) -> int:
    """`kyzel-tui eval`: see `kyzel_tui.adapter_commands`."""
    from kyzel_tui import adapter_commands

    return adapter_commands.evaluate_adapter(args)
