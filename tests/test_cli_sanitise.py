"""Every CLI line that carries a file name or a title goes through the app's sanitiser."""

from __future__ import annotations

import json

from conftest import run_cli

HOSTILE_NAME = "s\x1b]52;c;cHduZWQ=\x07\x1b[2J\u202egnp.xml"
SESSION = '<session title="t\u202eitle"><events><msg from="user">hi</msg></events></session>'


def test_import_never_echoes_a_file_name_raw(tmp_path):
    good = tmp_path / HOSTILE_NAME
    good.write_text(SESSION)
    bad = tmp_path / ("bad" + HOSTILE_NAME)
    bad.write_text("<session>")
    done = run_cli(tmp_path / "home", "import", str(good), str(bad))
    assert done.returncode == 1  # one of the two failed
    for stream in (done.stdout, done.stderr):
        assert "\x1b" not in stream and "\x07" not in stream and "\u202e" not in stream
    assert "imported" in done.stdout and "⟨U+202E⟩gnp.xml" in done.stdout
    assert "nothing was imported" in done.stderr and "Traceback" not in done.stderr
    listing = run_cli(tmp_path / "home", "sessions", "--json")
    (line,) = listing.stdout.splitlines()
    assert json.loads(line)["title"] == "title"  # bidi removed from stored titles
