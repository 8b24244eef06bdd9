"""The training command, `--train` (and `--dry-run`), with its options (`add_options`), and
resolving `--adapter latest` for the app, `ask` and `eval` (`adapters` and `eval`:
`kyzel_tui.cli.adapters`; `--review` and `exclude`: `kyzel_tui.cli.review`).

`train` builds the datasets from the store (and the curated examples), then, unless asked only to
review or dry-run, trains SFT, then DPO/KTO when `preference` is on (`training.trainer`), evaluates
before and after (`training.evaluate`), registers the adapter (`training.registry`) and prints the
loss curve, the summary and how to use the adapter. Errors come out as one line that says what to
do. torch and the training libraries are imported only when a command needs them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from core import paths
from core.store.database import Store, StoreError
from kyzel_tui.cli.train_report import peak_gpu_mib, peak_rss_mib, print_figures, print_outcome
from kyzel_tui.model_choice import base_model
from training.registry import RegistryError
from training.settings import TrainError


def _progress(message: str) -> None:
    print(f"· {message}", file=sys.stderr, flush=True)


def data_home(args: argparse.Namespace) -> Path:
    return paths.data_home(args.home)


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
    from training import distributed
    from training.datasets import MaskError

    try:
        code = _train(distributed.worker_args(args))
        distributed.finish()  # in a launched process: after the others, then close the group
        return code
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
        from kyzel_tui.cli.review import review

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
    from training import distributed

    if distributed.wanted(args):  # --processes N: N copies of this run under accelerate launch
        return distributed.launch(args)
    return _full_run(args, home, config, built, model_id, stamp)


def _full_run(args, home: Path, config, built, model_id: str, stamp: str) -> int:
    """Load, evaluate the base, fit, evaluate the adapter, save and register it, then report."""
    from training import distributed, registry
    from training.plot import progress_bar
    from training.progress import JsonProgress
    from training.window import WindowStats

    trainable, backend = _load(config, model_id)
    if not distributed.current().main:  # another process of a launch: it only trains
        return distributed.follow(trainable, built, config)
    folder = _write_datasets(home, built, trainable, config, stamp)
    held = {"sft": built.rows["sft"]["eval"], "preference": built.rows["preference"]["eval"]}
    has_preferences = bool(built.rows["preference"]["train"] or built.rows["kto"]["train"])
    if has_preferences and not config.preference:
        _progress(
            "SFT only: the preference pairs and ratings are measured, not trained on "
            "(`--set preference=true` adds DPO or KTO)"
        )
    _progress("evaluating the base model on the held-out sessions")
    before = _evaluate(trainable, trainable.model, held, config)
    run_id = registry.new_run_id(home)
    work = registry.staging(home, run_id)
    json_lines = getattr(args, "train_progress", None) == "json"  # for a program: the app's screen
    windows, bar = WindowStats(), JsonProgress() if json_lines else progress_bar()
    try:
        model, stages = _fit(trainable, built, config, work / "checkpoints", bar, windows)
        _progress("evaluating the adapter on the held-out sessions")
        after = _evaluate(trainable, model, held, config, reference=before)
        plot = _save(work, model, model_id, stages, built)
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
            "peak_rss_mib": peak_rss_mib(),
            "peak_gpu_mib": peak_gpu_mib() if trainable.device == "cuda" else None,
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
    print_figures(plot, stages, model, before, after, windows.line(config.max_length))
    print_outcome(args, model_id, run_id, final, meta)
    return 0


def _load(config, model_id: str) -> tuple[Any, str]:
    """The training backend, and the base model loaded for it."""
    from training.trainer import choose_backend, load_for_training

    backend = choose_backend(config)
    _progress(f"backend: {backend}; base model: {model_id}")
    return load_for_training(model_id, config, backend, progress=_progress), backend


def _write_datasets(home: Path, built, trainable, config, stamp: str) -> Path:
    """The datasets of this run, written beside its adapter (by the main process only)."""
    from training.build import write

    folder = write(built, home / "datasets" / stamp, trainable.tokenizer, config.max_length)
    counts = built.manifest["counts"]
    _progress(
        f"datasets in {folder}: "
        + ", ".join(f"{k} {v['train']} train / {v['eval']} eval" for k, v in counts.items())
    )
    return folder


def measure_options(config) -> dict[str, Any]:
    """How `training.evaluate.evaluate` measures, from the [train] settings."""
    return {
        "max_length": config.max_length,
        "prompts": config.eval_prompts,
        "max_new_tokens": config.eval_max_new_tokens,
    }


def _evaluate(trainable, model, held: dict[str, Any], config, reference: Any = None) -> Any:
    """The held-out figures of `model` (the base, or the base with its adapter)."""
    from training.evaluate import evaluate
    from training.trainer import for_inference

    with for_inference(trainable, model) as ready:
        return evaluate(
            ready, trainable.tokenizer, held, reference=reference, **measure_options(config)
        )


def _fit(trainable, built, config, checkpoints: Path, bar, windows) -> tuple[Any, list[Any]]:
    """A LoRA adapter on the model, trained by SFT, then on the preferences when asked."""
    from training.trainer import add_lora, train_preference, train_sft

    model = add_lora(trainable, config)
    sft = built.rows["sft"]
    stages = [
        train_sft(model, trainable, sft["train"], sft["eval"], config, checkpoints, [bar], windows)
    ]
    if config.preference:
        pref_stage = train_preference(
            model, trainable, built.rows, config, checkpoints, [bar], windows
        )
        if pref_stage is not None:
            stages.append(pref_stage)
    return model, stages


def _save(work: Path, model, model_id: str, stages: list[Any], built) -> str:
    """The adapter, its loss curves and its manifest in the staging folder; the SFT plot."""
    from training.plot import save_png, text_plot

    # The app refuses an adapter whose base is not the model it loads: name it as the app does.
    model.peft_config["default"].base_model_name_or_path = model_id
    model.save_pretrained(str(work), selected_adapters=["default"])
    shutil.rmtree(work / "checkpoints", ignore_errors=True)
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
    return plot


def add_options(parser: argparse.ArgumentParser) -> None:
    """`--train` and its options: on the top-level parser, since training is not a subcommand."""
    train = parser.add_argument_group(
        "training (kyzel-tui --train; --model or --demo choose the base model)"
    )
    train.add_argument(
        "--train",
        action="store_true",
        help="build datasets from your corrections and train a LoRA adapter (instead of the app)",
    )
    train.add_argument(
        "--dry-run",
        dest="train_dry_run",
        action="store_true",
        help="with --train: build and show the datasets, train nothing",
    )
    train.add_argument(
        "--review",
        dest="train_review",
        action="store_true",
        help="with --train: list every session and turn that would be trained on",
    )
    train.add_argument(
        "--sessions",
        dest="train_sessions",
        nargs="+",
        metavar="ID",
        help="only these stored sessions (the curated examples join unless --no-examples)",
    )
    train.add_argument(
        "--epochs", dest="train_epochs", type=float, metavar="N", help="passes over the data"
    )
    train.add_argument("--lr", dest="train_lr", type=float, metavar="X", help="SFT learning rate")
    train.add_argument("--lora-r", dest="train_lora_r", type=int, metavar="N", help="LoRA rank")
    train.add_argument(
        "--max-steps", dest="train_max_steps", type=int, metavar="N", help="per stage"
    )
    train.add_argument(
        "--eval-share", dest="train_eval_share", type=float, metavar="F", help="held-out share"
    )
    train.add_argument(
        "--no-examples",
        dest="train_no_examples",
        action="store_true",
        help="leave out the curated example sessions",
    )
    train.add_argument(
        "--set",
        dest="train_set",
        action="append",
        metavar="KEY=VALUE",
        help="any [train] setting of config.toml, e.g. --set beta=0.2 (repeatable)",
    )
    train.add_argument(
        "--processes",
        dest="train_processes",
        type=int,
        metavar="N",
        help="train data-parallel in N processes under accelerate launch (a GPU each, or the CPU)",
    )
    train.add_argument(
        "--accelerate-config",
        dest="train_accelerate_config",
        metavar="FILE",
        help="launch with this accelerate config file (from `accelerate config`)",
    )
    train.add_argument(
        "--progress",
        dest="train_progress",
        choices=("bar", "json"),
        default="bar",
        help="with --train: a progress bar (default), or JSON lines on stdout for a program",
    )
