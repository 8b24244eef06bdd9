"""`--server URL [--server-model NAME] [--engine ...]` on the app and on `ask`: parsed either side
of the command, checked with a one-line error, and refused beside a local model's options."""

from __future__ import annotations

import pytest

from kyzel_tui.cli import build_parser
from kyzel_tui.server_options import ServerChoice, server_choice

from conftest import run_cli


def choice(*argv: str) -> ServerChoice | None:
    return server_choice(build_parser().parse_args(list(argv)))


def test_the_app_and_ask_take_the_server_either_side_of_the_command():
    assert choice() is None and choice("ask", "x") is None
    assert choice("--server", "http://gpu:8000/", "--engine", "vllm") == ServerChoice(
        "http://gpu:8000", None, "vllm"
    )
    assert choice("ask", "x", "--server", "https://h", "--server-model", "m") == ServerChoice(
        "https://h", "m", "auto"
    )
    # Given before the command, it is not undone by the command's own (unset) options.
    assert choice("--server", "http://h:1", "ask", "x") == ServerChoice("http://h:1")


def test_a_url_that_is_not_a_server_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["ask", "x", "--server", "localhost:8080"])
    assert exit_.value.code == 2
    assert "is not a server URL: give one like http://127.0.0.1:8080" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, said",
    [
        (["--server", "http://h:1", "--demo"], "--demo choose a local model, --server a remote"),
        (["ask", "x", "--server", "http://h:1", "--model", "m"], "--model choose a local model"),
        (["--engine", "vllm"], "--server-model and --engine go with --server URL"),
    ],
)
def test_contradictions_are_refused_in_one_line(tmp_path, argv, said):
    result = run_cli(tmp_path / "home", *argv)
    assert result.returncode == 1
    assert result.stderr.startswith("kyzel-tui: ") and said in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
