"""The adapter commands: `adapters` (the registry's runs with their figures and verdicts) and
`eval` (an adapter's figures without and with it, on its held-out sessions or on exactly the
sessions named; `--json` prints one object). Errors come out as one line that says what to do.
Their options are declared at the end (`register`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from core.model.adapters import same_model
from core.store.database import Store, StoreError
from core.text import one_line
from kyzel_tui.cli.options import add_model_options
from kyzel_tui.cli.train import _overrides, _progress, data_home, measure_options
from kyzel_tui.model_choice import base_model, demo_base
from training.registry import RegistryError
from training.settings import TrainError


def adapters(args: argparse.Namespace) -> int:
    """`kyzel-tui adapters [--delete ID] [--json]`."""
    from training import registry
    from training.plot import table

    home = data_home(args)
    if args.delete:
        try:
            info = registry.delete_adapter(home, args.delete)
        except RegistryError as error:
            print(f"kyzel-tui: {error}", file=sys.stderr)
            return 1
        print(f"deleted adapter {info.run_id} ({info.path})")
        return 0
    runs = registry.list_adapters(home)
    if args.json:
        for info in runs:
            print(json.dumps({"path": str(info.path), **info.meta}, ensure_ascii=False))
        return 0
    if not runs:
        print(f"no adapters in {registry.adapters_dir(home)}: train one with `kyzel-tui --train`")
        return 0
    rows = []
    defaults = {}  # base -> the run the app loads for it without --adapter
    for info in runs:
        if info.base_model not in defaults:
            chosen = registry.default_adapter(home, info.base_model)
            defaults[info.base_model] = chosen.run_id if chosen else None
    for info in runs:
        before, after = info.metrics.get("before", {}), info.metrics.get("after", {})
        won = registry.verdict(info.metrics)[0]
        used = "default" if defaults.get(info.base_model) == info.run_id else ""
        gain = registry.loss_gain(info)
        stages = "+".join(s.get("stage", "?") for s in info.meta.get("stages", []))
        base = info.base_model
        label = "demo" if same_model(base, demo_base()) else one_line(base, 40)
        rows.append(
            [
                info.run_id,
                time.strftime("%Y-%m-%d %H:%M", time.localtime(info.created)),
                label,
                stages,
                before.get("loss"),
                after.get("loss"),
                f"{gain:+.0%}" if gain is not None else None,
                before.get("preference_accuracy"),
                after.get("preference_accuracy"),
                after.get("reward_accuracy"),
                before.get("format_share"),
                after.get("format_share"),
                before.get("kind_share"),
                after.get("kind_share"),
                ("won" if won else "worse") + (f", {used}" if used else ""),
            ]
        )
    header = ["RUN", "CREATED", "BASE", "STAGES", "LOSS BEFORE", "AFTER", "GAIN"]
    header += ["PREF ACC BEFORE", "AFTER", "REWARD ACC", "FORMAT BEFORE", "AFTER"]
    header += ["KIND BEFORE", "AFTER", "VERDICT"]
    print(table(header, rows))
    print(
        "\nwithout --adapter the app loads the newest run that won for its model (marked "
        "default);\nload another: kyzel-tui --adapter RUN; none: --adapter none; remove one: "
        "adapters --delete RUN"
    )
    return 0


def evaluate_adapter(args: argparse.Namespace) -> int:
    """`kyzel-tui eval --adapter X [--demo | --model M]`: the held-out figures, before and after."""
    from core.model.loading import ModelLoadError

    try:
        return _evaluate_adapter(args)
    except (TrainError, StoreError, RegistryError, ModelLoadError) as error:
        print(f"kyzel-tui: {error}", file=sys.stderr)
        return 1


def _held_rows(home: Path, folder: Path, refs: list[str] | None, config: Any) -> dict[str, Any]:
    """The rows to evaluate on: with `--sessions`, exactly those sessions (stored ones or
    curated examples), all of their rows; else the run's own held-out sessions (its manifest),
    else the held-out side of today's split."""
    from training.build import EXAMPLES, collect, make_rows

    with Store.open(home) as store:
        sources = collect(store, None, EXAMPLES if config.examples or refs else None)
    if refs:
        picked = []
        for ref in refs:
            found = [s for s in sources if s.info.id.upper().startswith(ref.upper())]
            if len(found) != 1:
                what = "no session" if not found else f"{len(found)} sessions"
                raise TrainError(f"{what} match {ref!r}: `kyzel-tui sessions` lists them")
            picked += [s for s in found if s not in picked]
        ids = [s.info.id for s in picked]
    else:
        manifest = folder / "manifest.json"
        ids = None
        if manifest.is_file():
            ids = json.loads(manifest.read_text()).get("sessions", {}).get("eval")
        if ids is None:
            rows = make_rows(sources, config.eval_share)
            return {k: rows.rows[k]["eval"] for k in ("sft", "preference")} | {
                "ids": rows.sessions["eval"]
            }
        picked = [s for s in sources if s.info.id in set(ids)]
    rows = make_rows(picked, eval_share=0.0).rows  # all of them: they are the ones asked for
    return {k: rows[k]["train"] for k in ("sft", "preference")} | {"ids": ids}


def _evaluate_adapter(args: argparse.Namespace) -> int:
    from core.model.loading import load_model
    from training import registry
    from training.evaluate import compare, evaluate
    from training.settings import load_config

    home = data_home(args)
    config = load_config(home, _overrides(args))
    spec = args.adapter
    if args.demo or args.model or spec == "latest" or Path(spec).expanduser().is_dir():
        base = base_model(args.model, args.demo, build=True)
    else:
        base = registry.find(home, spec).base_model  # the adapter knows its own base
    folder = registry.resolve_adapter(home, spec, base, demo_base=demo_base())
    loaded = load_model(base, adapter=str(folder), progress=_progress)
    held = _held_rows(home, folder, args.sessions, config)
    if not held["sft"] and not held["preference"]:
        raise TrainError("no held-out sessions to evaluate on (were they deleted or excluded?)")
    measure = measure_options(config)
    _progress("evaluating without the adapter")
    with loaded.model.disable_adapter():
        before = evaluate(loaded.model, loaded.tokenizer, held, **measure)
    _progress("evaluating with the adapter")
    after = evaluate(loaded.model, loaded.tokenizer, held, reference=before, **measure)
    record = {"at": time.time(), "before": before.as_dict(), "after": after.as_dict()}
    record["sessions"] = held["ids"]
    print(json.dumps(record) if args.json else compare(before, after))
    if (folder / registry.RUN_FILE).is_file():
        with (folder / "evaluations.jsonl").open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    listing = sub.add_parser("adapters", help="list trained adapters, newest first")
    listing.add_argument("--delete", metavar="RUN", help="delete this adapter (run id or prefix)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=adapters)

    evaluate = sub.add_parser(
        "eval", help="evaluate an adapter on the held-out sessions, without and with it"
    )
    evaluate.add_argument(
        "--adapter", required=True, metavar="RUN|PATH", help="latest, a run id, or a folder"
    )
    add_model_options(evaluate, what="the adapter was trained on (default: the adapter's own)")
    evaluate.add_argument(
        "--sessions",
        nargs="+",
        metavar="ID",
        help="evaluate on exactly these sessions (stored or example), all of them",
    )
    evaluate.add_argument("--json", action="store_true", help="one JSON object: before and after")
    evaluate.add_argument(
        "--set", dest="train_set", action="append", metavar="KEY=VALUE", help="a [train] setting"
    )
    evaluate.set_defaults(handler=evaluate_adapter)
