"""The command line's assembly: every command group's parser, handler and entry points."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from kyzel_tui import __version__
from kyzel_tui.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = {
    "sessions": [],
    "import": ["a.xml"],
    "export": ["S"],
    "rename": ["S", "title"],
    "delete": ["S"],
    "ask": ["a prompt"],
    "lint": [],
    "adapters": [],
    "eval": ["--adapter", "latest"],
    "exclude": ["S"],
    "doctor": [],
}
"""Each command with the arguments it cannot do without."""


def _commands(parser) -> dict:
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return sub.choices


def test_every_command_has_its_handler_and_takes_home_after_it() -> None:
    parser = build_parser()
    assert set(_commands(parser)) == set(MINIMAL)
    for command, rest in MINIMAL.items():
        args = parser.parse_args([command, *rest, "--home", "/data/k"])
        assert args.home == "/data/k", command
        assert callable(args.handler) and args.handler.__module__.startswith("kyzel_tui.cli.")
    # Before the command it is the top-level option; without one, the default is left to the store.
    assert parser.parse_args(["--home", "/h", "sessions"]).home == "/h"
    assert parser.parse_args(["sessions"]).home is None


def test_app_and_training_options_stay_on_the_top_level() -> None:
    args = build_parser().parse_args(["--demo", "random", "--auto", "--train", "--lora-r", "4"])
    chosen = (args.app_demo, args.app_auto, args.train, args.train_lora_r)
    assert chosen == ("random", True, True, 4)
    assert args.command is None


def test_train_with_a_command_is_refused(capsys) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--train", "sessions"])
    assert raised.value.code == 2
    assert "--train runs on its own, not with the sessions command" in capsys.readouterr().err


def test_the_console_script_and_python_m_reach_the_same_main() -> None:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "kyzel-tui"]
    assert script.value == "kyzel_tui.cli:main" and script.load() is main
    result = subprocess.run(
        [sys.executable, "-m", "kyzel_tui", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout.strip() == f"kyzel-tui {__version__}"
