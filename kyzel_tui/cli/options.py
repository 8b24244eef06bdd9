"""Options that several commands share: the data folder, which model, the demo model, precision.

Each command module declares its own options beside its handler and calls these for the common
ones, so a shared option reads the same in every `--help`.
"""

from __future__ import annotations

import argparse

DEMO_KINDS = ("smollm2", "random")


def add_home(parser: argparse.ArgumentParser, default: object = None) -> None:
    parser.add_argument(
        "--home",
        metavar="DIR",
        default=default,
        help="where sessions and adapters live (default: $KYZEL_HOME, else the user data dir)",
    )


def add_model_options(parser: argparse.ArgumentParser, what: str = "to use") -> None:
    """`--model` or `--demo` (one of them), and `--precision`, for a command that loads one."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--model",
        metavar="ID|PATH",
        help=f"the model {what}: a hub id or a local folder (default: by hardware)",
    )
    add_demo(group, dest="demo")
    add_precision(parser, dest="precision")


def add_demo(group: argparse._ActionsContainer, dest: str) -> None:
    group.add_argument(
        "--demo",
        dest=dest,
        nargs="?",
        const="smollm2",
        choices=DEMO_KINDS,
        help="the small embedded model (SmolLM2-135M, no download); "
        "--demo random: a tiny random model for tests (output is noise)",
    )


def add_precision(group: argparse._ActionsContainer, dest: str) -> None:
    group.add_argument(
        "--precision",
        dest=dest,
        choices=("4bit", "bf16", "fp32"),
        help="how the weights are held (default: 4bit where bitsandbytes runs, for real models)",
    )


def demo_argv(argv: list[str]) -> list[str]:
    """A bare `--demo` followed by anything but a demo kind gets its value spelled out, so that
    `ask --demo "a prompt"` does not read the prompt as the kind of demo."""
    out = []
    for index, arg in enumerate(argv):
        following = argv[index + 1] if index + 1 < len(argv) else None
        out.append("--demo=smollm2" if arg == "--demo" and following not in DEMO_KINDS else arg)
    return out
