"""`kyzel-tui ask` and `kyzel-tui lint` as a user runs them, with the demo model built locally."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.events import Event, Turn, UserMessage
from core.formats.write import session_to_xml
from core.store.database import SessionInfo
from core.tree import SessionTree
from grammars.turn import TurnFields, render

from conftest import LOCAL_KYZEL

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "KYZEL_HOME": str(home),
        "KYZEL_TINY_CACHE": str(tmp_path_factory.mktemp("tiny-cache")),
    }


def kyzel(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kyzel_tui", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_ask_demo_prints_a_valid_turn_as_json(env):
    result = kyzel(env, "ask", "list files", "--demo", "random", "--max-new-tokens", "48", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    code_or_answer = (
        {"code": answer["code"]} if answer["code"] is not None else {"answer": answer["answer"]}
    )
    assert render(TurnFields(answer["thought"], **code_or_answer)) == answer["raw"]
    assert 0 < answer["stats"]["output_tokens"] <= 48
    assert "DEMO" in result.stderr and "random" in answer["model"]


def test_ask_streams_the_turn_to_standard_output(env):
    result = kyzel(env, "ask", "hello", "--demo", "random", "--max-new-tokens", "40", "--seed", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("<thought>") and "tokens/s" in result.stderr


def test_ask_with_a_missing_model_says_what_to_do(env, tmp_path):
    result = kyzel(env, "ask", "hi", "--model", str(tmp_path / "nothing-here"))
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "--demo" in result.stderr
    assert "Traceback" not in result.stderr


def test_ask_with_a_budget_too_small_for_the_tags_is_refused(env):
    result = kyzel(env, "ask", "hi", "--demo", "random", "--max-new-tokens", "5")
    assert result.returncode == 2 and "too small" in result.stderr


def bad_session(path: Path) -> None:
    info = SessionInfo("S", "bad turns", 1.0, 1.0, "", None)
    tree = SessionTree("S")
    tree.add(Event("U", "S", None, UserMessage("go"), 1.0))
    tree.add(Event("T1", "S", "U", Turn("fine", code="print(1)"), 2.0))
    tree.add(Event("T2", "S", "T1", Turn("leaks a special token", code="x = '<|im_end|>'"), 3.0))
    tree.add(Event("T3", "S", "T2", Turn("closes early", code="s = '</code>'\nprint(s)"), 4.0))
    path.write_text(session_to_xml(info, tree))


def test_lint_reports_each_refused_turn_with_its_position(env, tmp_path):
    path = tmp_path / "bad.xml"
    bad_session(path)
    result = kyzel(env, "lint", "--demo", "random", str(path))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert any("turn T2: refused at character 52" in line for line in lines), result.stdout
    assert any(
        "turn T3: refused at character" in line and "text after the end" in line for line in lines
    ), result.stdout
    assert "turn T1" not in result.stdout
    assert lines[-1].startswith("3 turns checked") and "2 refused" in lines[-1]


def test_lint_passes_on_the_imported_kyzel_fixtures(env):
    for name, extra in (("error_log.xml", []), ("backup_full.xml", ["--recover"])):
        imported = kyzel(env, "import", *extra, str(LOCAL_KYZEL / name))
        assert imported.returncode == 0, imported.stderr
    result = kyzel(env, "lint", "--all", "--demo", "random")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("all admitted")
    assert result.stdout.startswith("7 turns checked")


def test_lint_needs_something_to_check(env):
    result = kyzel(env, "lint", "--demo", "random")
    assert result.returncode == 2 and "give XML files" in result.stderr


@pytest.mark.parametrize(
    ("argv", "demo", "prompt"),
    [
        (["ask", "--demo", "list files"], "smollm2", "list files"),
        (["ask", "list files", "--demo"], "smollm2", "list files"),
        (["ask", "--demo", "random", "list files"], "random", "list files"),
        (["ask", "list files"], None, "list files"),
    ],
)
def test_demo_takes_a_kind_only_when_one_is_named(argv, demo, prompt) -> None:
    from kyzel_tui.cli import build_parser
    from kyzel_tui.cli.options import demo_argv

    args = build_parser().parse_args(demo_argv(argv))
    assert (args.demo, args.prompt) == (demo, prompt)


def test_precision_is_an_app_and_ask_option() -> None:
    from kyzel_tui.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["--precision", "fp32"]).app_precision == "fp32"
    assert parser.parse_args(["ask", "x", "--precision", "4bit"]).precision == "4bit"
    with pytest.raises(SystemExit):
        parser.parse_args(["--precision", "int3"])
