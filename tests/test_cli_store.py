"""The store subcommands as a user runs them: real processes, a real store under --home."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import LOCAL_KYZEL, run_cli

ROOT = Path(__file__).resolve().parents[1]


def test_help_and_store_commands_never_import_torch(tmp_path):
    code = (
        "import sys\n"
        "from kyzel_tui.cli import main\n"
        f"main(['--home', {str(tmp_path)!r}, 'import', {str(LOCAL_KYZEL / 'error_log.xml')!r}])\n"
        f"main(['--home', {str(tmp_path)!r}, 'sessions'])\n"
        f"main(['--home', {str(tmp_path)!r}, 'export', 'Count the ERROR lines'])\n"
        "heavy = {'torch', 'transformers', 'textual', 'outlines'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "usage: kyzel-tui" in result.stdout


def test_import_list_search_export_as_a_new_user_would(tmp_path):
    home = tmp_path / "home"
    clean, edited = LOCAL_KYZEL / "error_log.xml", LOCAL_KYZEL / "backup_full.xml"
    failed = run_cli(home, "import", str(clean), str(edited))
    assert failed.returncode == 1
    assert "backup_full.xml:7:36: " in failed.stderr and "try --recover" in failed.stderr
    assert "imported" in failed.stdout and "error_log.xml" in failed.stdout

    recovered = run_cli(home, "import", "--recover", str(edited))
    assert recovered.returncode == 0, recovered.stderr
    assert recovered.stdout.count("escaped a stray '&'") == 7

    listing = run_cli(home, "sessions")
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["ID", "UPDATED", "EVENTS", "TITLE"] and len(lines) == 3

    found = run_cli(home, "sessions", "--search", "rsync", "--json")
    rows = [json.loads(line) for line in found.stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["title"].startswith("my backup script stopped")

    out = tmp_path / "backup-export.xml"
    exported = run_cli(home, "export", rows[0]["id"][:12], "-o", str(out), "--branch")
    assert exported.returncode == 0, exported.stderr
    text = out.read_text()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<session format="kyzel-tui"')
    assert "<code><![CDATA[!df -h /srv && du -sh /srv/* | sort -h | tail -n 3]]></code>" in text

    again = run_cli(home, "import", str(out))
    assert again.returncode == 0 and "as a copy with new ids" in again.stdout


def test_rename_and_delete_with_confirmation(tmp_path):
    home = tmp_path / "home"
    assert run_cli(home, "import", str(LOCAL_KYZEL / "error_log.xml")).returncode == 0
    session_id = json.loads(run_cli(home, "sessions", "--json").stdout)["id"]
    assert run_cli(home, "rename", session_id, "org-roam map").returncode == 0
    assert "org-roam map" in run_cli(home, "sessions").stdout
    refused = run_cli(home, "delete", "org-roam map")
    assert refused.returncode == 1 and "without --yes" in refused.stderr
    assert run_cli(home, "delete", "org-roam map", "--yes").returncode == 0
    assert "no sessions yet" in run_cli(home, "sessions").stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["export", "nothing-like-this"], "no session matches 'nothing-like-this'"),
        (["import", "/no/such/file.xml"], "/no/such/file.xml: no such file"),
    ],
)
def test_errors_are_one_clear_line(tmp_path, args, message):
    result = run_cli(tmp_path / "home", *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "--recover" not in result.stderr  # a missing file is not a hand-editing problem


def test_a_folder_is_not_imported_and_a_broken_file_suggests_recover(tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text("<session><msg>fish & chips</msg></session>")
    folder = run_cli(tmp_path / "home", "import", str(tmp_path))
    assert folder.returncode == 1 and "a folder, not a file" in folder.stderr
    hand_edited = run_cli(tmp_path / "home", "import", str(broken))
    assert hand_edited.returncode == 1 and "try --recover" in hand_edited.stderr


@pytest.mark.parametrize(
    "command",
    [["sessions"], ["export", "S"], ["rename", "S", "T"], ["delete", "S"], ["import", "F"]],
)
def test_a_wrong_flag_after_a_subcommand_shows_that_subcommands_usage(tmp_path, command):
    result = run_cli(tmp_path / "home", *command, "--no-such-flag")
    assert result.returncode == 2
    assert result.stderr.startswith(f"usage: kyzel-tui {command[0]} ")
    assert f"kyzel-tui {command[0]}: error: unrecognized arguments: --no-such-flag" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("title", ["", "   ", "\x1b[2J"])
def test_an_empty_title_is_refused(tmp_path, title):
    from core.session import Session
    from core.store.database import Store

    home = tmp_path / "home"
    with Store.open(home) as store:
        session = Session.create(store, title="kept")
    result = run_cli(home, "rename", session.id, title)
    assert result.returncode == 2 and "needs a title" in result.stderr
    with Store.open(home) as store:
        assert store.session(session.id).title == "kept"


def test_every_option_of_every_command_has_a_help_text():
    import argparse

    from kyzel_tui.cli import build_parser

    def parsers(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield from parsers(child)

    missing = [
        f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"
        for parser in parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction)
        and action.help in (None, "")
        and action.dest != "help"
    ]
    assert missing == []


def test_export_to_a_file_is_private(tmp_path):
    from core.events import UserMessage
    from core.session import Session
    from core.store.database import Store

    home = tmp_path / "home"
    with Store.open(home) as store:
        session = Session.create(store)
        session.append(UserMessage("secret numbers"))
    target = tmp_path / "out.xml"
    target.write_text("old")
    target.chmod(0o644)  # an export over a readable file leaves it private too
    for name in ("out.xml", "out.ipynb"):
        result = run_cli(home, "export", session.id, "-o", str(tmp_path / name))
        assert result.returncode == 0, result.stderr
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    assert "secret numbers" in target.read_text()


def test_text_reaches_the_terminal_without_escape_sequences(tmp_path):
    from core.events import UserMessage
    from core.session import Session
    from core.store.database import Store

    home = tmp_path / "home"
    with Store.open(home) as store:
        session = Session.create(store)
        session.append(UserMessage("\x1b]0;pwned\x07\x1b[2Jhello [bold]x[/] \x1bc world"))
    listing = run_cli(home, "sessions", "--search", "world").stdout
    assert "\x1b" not in listing and "\x07" not in listing
    assert "hello [bold]x[/]" in listing
