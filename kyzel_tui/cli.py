"""The `kyzel-tui` command line.

Subcommands that work on the store (`sessions`, `import`, `export`, `rename`, `delete`) import
neither torch nor transformers, so they, and `--help`, answer at once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kyzel_tui import __version__


def _add_home(parser: argparse.ArgumentParser, default: object = None) -> None:
    parser.add_argument(
        "--home",
        metavar="DIR",
        default=default,
        help="where sessions and adapters live (default: $KYZEL_HOME, else the user data dir)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kyzel-tui",
        description="A local coding assistant that learns from your corrections.",
    )
    parser.add_argument("--version", action="version", version=f"kyzel-tui {__version__}")
    _add_home(parser)
    app = parser.add_argument_group("the app (kyzel-tui with no command)")
    which = app.add_mutually_exclusive_group()
    which.add_argument(
        "--model",
        dest="app_model",
        metavar="ID|PATH",
        help="a hub id or a local folder (default: chosen by hardware)",
    )
    _add_demo(which, dest="app_demo")
    _add_precision(app, dest="app_precision")
    app.add_argument(
        "--adapter",
        dest="app_adapter",
        metavar="RUN|PATH",
        help="a LoRA adapter: latest (the newest for this model), a run id, a folder, or none "
        "(default: the newest one that improved its held-out figures)",
    )
    where = app.add_mutually_exclusive_group()
    where.add_argument(
        "--session",
        dest="app_session",
        metavar="ID",
        help="open this session (id, id prefix or title)",
    )
    where.add_argument(
        "--new", dest="app_new", action="store_true", help="start a new session (the default)"
    )
    app.add_argument(
        "--auto",
        dest="app_auto",
        action="store_true",
        help="run code without asking (always shown in the status bar)",
    )
    kernel = app.add_mutually_exclusive_group()
    kernel.add_argument(
        "--kernel",
        dest="app_kernel",
        metavar="NAME",
        help="an installed Jupyter kernel spec (default: this Python)",
    )
    kernel.add_argument(
        "--existing",
        dest="app_existing",
        metavar="FILE",
        help="attach to a running kernel through its connection file",
    )
    app.add_argument(
        "--temperature",
        dest="app_temperature",
        type=float,
        default=0.7,
        metavar="T",
        help="sampling temperature of the model's turns (default 0.7; 0 is greedy)",
    )
    app.add_argument(
        "--max-new-tokens",
        dest="app_max_new_tokens",
        type=int,
        default=1024,
        metavar="N",
        help="token budget of one turn (default 1024)",
    )
    app.add_argument(
        "--timeout",
        dest="app_timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds one code cell may run before it is interrupted (default 120)",
    )
    _add_training_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sessions = sub.add_parser("sessions", help="list sessions, newest first")
    sessions.add_argument("--search", metavar="TEXT", help="only sessions whose text has TEXT")
    sessions.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    sessions.add_argument("--json", action="store_true", help="one JSON object per line")

    imp = sub.add_parser("import", help="import sessions from XML files (kyzel or ours)")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE", help="XML session files")
    imp.add_argument(
        "--recover",
        action="store_true",
        help="escape stray '&' and '<' in hand-edited files, reporting each fix",
    )
    imp.add_argument(
        "--max-size",
        type=float,
        default=32,
        metavar="MIB",
        help="refuse files larger than this (default 32 MiB)",
    )

    exp = sub.add_parser("export", help="write a session as XML or as a Jupyter notebook")
    exp.add_argument("session", metavar="SESSION", help="id, unique id prefix, or exact title")
    exp.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: standard output")
    exp.add_argument(
        "--format",
        choices=("xml", "ipynb"),
        help="xml (default; ipynb when FILE ends with .ipynb), or ipynb: the current branch "
        "as a notebook",
    )
    scope = exp.add_mutually_exclusive_group()
    scope.add_argument(
        "--tree", dest="branch", action="store_false", help="every branch (the default)"
    )
    scope.add_argument(
        "--branch",
        dest="branch",
        action="store_true",
        help="only the path from the first event to the head",
    )
    exp.set_defaults(branch=None)  # None: neither given, so --tree can be told from the default

    rename = sub.add_parser("rename", help="give a session a new title")
    rename.add_argument("session", metavar="SESSION", help="id, unique id prefix, or exact title")
    rename.add_argument("title", metavar="TITLE", help="the new title (not empty)")

    delete = sub.add_parser("delete", help="delete a session and all its events, for good")
    delete.add_argument("session", metavar="SESSION", help="id, unique id prefix, or exact title")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    ask = sub.add_parser("ask", help="generate one turn for PROMPT, headless, and print it")
    ask.add_argument("prompt", metavar="PROMPT", help="the request, as typed in the app")
    _add_model_options(ask)
    ask.add_argument(
        "--adapter",
        metavar="RUN|PATH",
        help="latest, a run id, a folder, or none (default: the newest that improved)",
    )
    ask.add_argument(
        "--max-new-tokens",
        type=int,
        default=1024,
        metavar="N",
        help="token budget of the whole turn (default 1024)",
    )
    ask.add_argument("--temperature", type=float, default=0.7, help="default 0.7; 0 is greedy")
    ask.add_argument("--seed", type=int, help="for a repeatable sample")
    ask.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: the fields, the raw text and the figures",
    )

    lint = sub.add_parser(
        "lint", help="check every turn of XML files or stored sessions against the turn grammar"
    )
    lint.add_argument("files", nargs="*", type=Path, metavar="FILE", help="XML session files")
    lint.add_argument(
        "--session", action="append", default=[], metavar="ID", help="a stored session (repeatable)"
    )
    lint.add_argument("--all", action="store_true", help="every stored session")
    lint.add_argument("--recover", action="store_true", help="read hand-edited files leniently")
    _add_model_options(lint, what="whose tokenizer the grammar is checked with")

    adapters = sub.add_parser("adapters", help="list trained adapters, newest first")
    adapters.add_argument("--delete", metavar="RUN", help="delete this adapter (run id or prefix)")
    adapters.add_argument("--json", action="store_true", help="one JSON object per line")

    exclude = sub.add_parser("exclude", help="keep a session, or one turn of it, out of training")
    exclude.add_argument("session", metavar="SESSION", help="id, unique id prefix, or exact title")
    exclude.add_argument("--turn", metavar="ID", help="only this turn (id or unique prefix)")
    exclude.add_argument("--undo", action="store_true", help="let it back into training")
    exclude.add_argument("--reason", metavar="TEXT", help="why (kept with the mark)")

    evaluate = sub.add_parser(
        "eval", help="evaluate an adapter on the held-out sessions, without and with it"
    )
    evaluate.add_argument(
        "--adapter", required=True, metavar="RUN|PATH", help="latest, a run id, or a folder"
    )
    _add_model_options(evaluate, what="the adapter was trained on (default: the adapter's own)")
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

    doctor = sub.add_parser("doctor", help="check the database; --recover writes a repaired copy")
    doctor.add_argument(
        "--recover", action="store_true", help="copy what can be read into a new file beside it"
    )
    _add_home(doctor, default=argparse.SUPPRESS)

    for child in (sessions, imp, exp, rename, delete, ask, lint, adapters, exclude, evaluate):
        _add_home(child, default=argparse.SUPPRESS)
    return parser


def _add_training_options(parser: argparse.ArgumentParser) -> None:
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
        "--progress",
        dest="train_progress",
        choices=("bar", "json"),
        default="bar",
        help="with --train: a progress bar (default), or JSON lines on stdout for a program",
    )


def _add_model_options(parser: argparse.ArgumentParser, what: str = "to use") -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--model",
        metavar="ID|PATH",
        help=f"the model {what}: a hub id or a local folder (default: by hardware)",
    )
    _add_demo(group, dest="demo")
    _add_precision(parser, dest="precision")


DEMO_KINDS = ("smollm2", "random")


def _add_demo(group: argparse._ActionsContainer, dest: str) -> None:
    group.add_argument(
        "--demo",
        dest=dest,
        nargs="?",
        const="smollm2",
        choices=DEMO_KINDS,
        help="the small embedded model (SmolLM2-135M, no download); "
        "--demo random: a tiny random model for tests (output is noise)",
    )


def _add_precision(group: argparse._ActionsContainer, dest: str) -> None:
    group.add_argument(
        "--precision",
        dest=dest,
        choices=("4bit", "bf16", "fp32"),
        help="how the weights are held (default: 4bit where bitsandbytes runs, for real models)",
    )


def _demo_argv(argv: list[str]) -> list[str]:
    """A bare `--demo` followed by anything but a demo kind gets its value spelled out, so that
    `ask --demo "a prompt"` does not read the prompt as the kind of demo."""
    out = []
    for index, arg in enumerate(argv):
        following = argv[index + 1] if index + 1 < len(argv) else None
        out.append("--demo=smollm2" if arg == "--demo" and following not in DEMO_KINDS else arg)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(
        _demo_argv(sys.argv[1:] if argv is None else list(argv))
    )
    if unknown:  # said by the subcommand's own parser, so that its usage is the one shown
        _command_parser(parser, args.command).error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.train or args.command is not None:
        # The app shows waits for the store's lock itself; stderr would garble its screen.
        from core.store.database import set_default_lock_notice
        from core.store.lock import print_lock_notice

        set_default_lock_notice(print_lock_notice)
    if args.train:
        if args.command is not None:
            parser.error(f"--train runs on its own, not with the {args.command} command")
        from kyzel_tui import train_commands

        return train_commands.train(args)
    if args.command is None:
        if args.train_dry_run or args.train_review:
            parser.error("--dry-run and --review go with --train")
        return run_app(args)
    if args.command in ("ask", "lint"):
        from kyzel_tui import model_commands

        return getattr(model_commands, args.command)(args)
    if args.command == "doctor":
        from kyzel_tui.doctor_command import doctor

        return doctor(args)
    if args.command == "exclude":
        from kyzel_tui import data_commands

        return data_commands.exclude(args)
    if args.command in ("adapters", "eval"):
        from kyzel_tui import train_commands

        if args.command == "eval":
            return train_commands.evaluate_adapter(args)
        return train_commands.adapters(args)
    from kyzel_tui import store_commands

    return store_commands.run(args)


def _command_parser(parser: argparse.ArgumentParser, command: str | None):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return parser


def run_app(args: argparse.Namespace) -> int:
    from kyzel_tui.widgets.transcript.pictures import ask_terminal

    # Asked now, answered while the app loads, read just before Textual takes the terminal.
    probe = ask_terminal()
    try:
        return _run_app(args, probe)
    finally:
        if probe is not None:
            probe.finish(timeout=0)  # after an early return, the terminal is put back as it was


def _run_app(args: argparse.Namespace, probe) -> int:
    from core.kernel.runner import KernelConfig
    from core.model.generate import Sampling
    from core.store.database import StoreError
    from kyzel_tui.app import make_app
    from kyzel_tui.config import AppConfig

    # "latest" and run ids name registry folders: resolved (and checked) before the app starts;
    # --adapter none: none; without --adapter, the newest adapter that won its evaluation, found
    # by the app while the model loads.
    adapter = None
    if args.app_adapter is not None:
        from kyzel_tui.train_commands import app_adapter

        adapter, ok = app_adapter(args)
        if not ok:
            return 1
    config = AppConfig(
        home=args.home,
        model=args.app_model,
        adapter=adapter,
        default_adapter=args.app_adapter is None,
        demo=args.app_demo or False,
        precision=args.app_precision,
        session=args.app_session,
        auto=args.app_auto,
        kernel=KernelConfig(
            kernel_name=args.app_kernel, existing=args.app_existing, timeout=args.app_timeout
        ),
        sampling=Sampling(temperature=args.app_temperature, max_new_tokens=args.app_max_new_tokens),
    )
    try:
        app = make_app(config)
    except StoreError as error:
        print(f"kyzel-tui: {error}", file=sys.stderr)
        return 1
    if probe is not None:
        probe.finish()  # now or never: once the app runs, Textual reads what the terminal says
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
