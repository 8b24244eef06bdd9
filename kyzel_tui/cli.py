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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sessions = sub.add_parser("sessions", help="list sessions, newest first")
    sessions.add_argument("--search", metavar="TEXT", help="only sessions whose text has TEXT")
    sessions.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    sessions.add_argument("--json", action="store_true", help="one JSON object per line")

    imp = sub.add_parser("import", help="import sessions from XML files (kyzel or ours)")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
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

    exp = sub.add_parser("export", help="write a session as XML")
    exp.add_argument("session", metavar="SESSION", help="id, unique id prefix, or exact title")
    exp.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: standard output")
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

    rename = sub.add_parser("rename", help="give a session a new title")
    rename.add_argument("session", metavar="SESSION")
    rename.add_argument("title", metavar="TITLE")

    delete = sub.add_parser("delete", help="delete a session and all its events, for good")
    delete.add_argument("session", metavar="SESSION")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    ask = sub.add_parser("ask", help="generate one turn for PROMPT, headless, and print it")
    ask.add_argument("prompt", metavar="PROMPT")
    _add_model_options(ask)
    ask.add_argument("--adapter", metavar="PATH", help="a LoRA adapter to load on the model")
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
    lint.add_argument("files", nargs="*", type=Path, metavar="FILE")
    lint.add_argument(
        "--session", action="append", default=[], metavar="ID", help="a stored session (repeatable)"
    )
    lint.add_argument("--all", action="store_true", help="every stored session")
    lint.add_argument("--recover", action="store_true", help="read hand-edited files leniently")
    _add_model_options(lint, what="whose tokenizer the grammar is checked with")

    for child in (sessions, imp, exp, rename, delete, ask, lint):
        _add_home(child, default=argparse.SUPPRESS)
    return parser


def _add_model_options(parser: argparse.ArgumentParser, what: str = "to use") -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--model",
        metavar="ID|PATH",
        help=f"the model {what}: a hub id or a local folder (default: by hardware)",
    )
    group.add_argument(
        "--demo",
        action="store_true",
        help="the built-in tiny random model (no download; output is noise)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command in ("ask", "lint"):
        from kyzel_tui import model_commands

        return getattr(model_commands, args.command)(args)
    from kyzel_tui import store_commands

    return store_commands.run(args)


if __name__ == "__main__":
    sys.exit(main())
