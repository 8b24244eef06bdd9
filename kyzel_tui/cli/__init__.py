"""The `kyzel-tui` command line: the parser assembled from its groups, and the dispatch.

Each group declares its options beside its handlers: the app (`app`), training (`train`), the
store (`sessions`, `doctor`), the model (`model`: ask, lint), adapters (`adapters`: adapters,
eval) and what training reads (`review`: exclude). Subcommands that work on the store import
neither torch nor transformers, so they, and `--help`, answer at once.
"""

from __future__ import annotations

import argparse
import sys

from kyzel_tui import __version__
from kyzel_tui.cli import adapters, app, doctor, model, review, sessions, train
from kyzel_tui.cli.options import add_home, demo_argv
from kyzel_tui.server_options import add_server_options

COMMAND_GROUPS = (sessions, model, adapters, review, doctor)
"""The modules whose `register` adds subcommands, in the order `--help` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kyzel-tui",
        description="A local coding assistant that learns from your corrections.",
    )
    parser.add_argument("--version", action="version", version=f"kyzel-tui {__version__}")
    add_home(parser)
    app.add_options(parser)
    train.add_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    for command in sub.choices.values():  # after the command too: `kyzel-tui sessions --home D`
        add_home(command, default=argparse.SUPPRESS)
    add_server_options(parser)  # --server, --server-model, --engine: the app's and ask's
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `kyzel-tui ARGV` (default: this process's arguments) and return its exit status."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(demo_argv(sys.argv[1:] if argv is None else list(argv)))
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
        return train.train(args)
    if args.command is None:
        if args.train_dry_run or args.train_review:
            parser.error("--dry-run and --review go with --train")
        return app.run_app(args)
    return args.handler(args)


def _command_parser(parser: argparse.ArgumentParser, command: str | None):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return parser
