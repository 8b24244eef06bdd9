"""Foreign text made safe for the terminal."""

from __future__ import annotations

import pytest

from core.text import colours_only, one_line, safe_text, strip_ansi

HOSTILE = [
    ("\x1b[2J\x1b[Hcleared", "cleared"),
    ("\x1bcreset", "reset"),
    ("\x1b]0;new title\x07text", "text"),
    ("\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\", "link"),
    ("\x1bP+q544e\x1b\\dcs", "dcs"),
    ("a\x00b\x07c\x08d", "abcd"),
    ("progress 10%\rprogress 20%", "progress 10%\nprogress 20%"),
    ("\x9b31mC1 CSI", "C1 CSI"),
    ("[bold]not markup[/]", "[bold]not markup[/]"),
    ("tabs\tand\nnewlines", "tabs\tand\nnewlines"),
]


@pytest.mark.parametrize("text, expected", HOSTILE)
def test_safe_text_removes_what_a_terminal_would_obey(text, expected):
    assert safe_text(text) == expected


def test_colours_survive_and_nothing_else_does():
    text = "\x1b[31mred\x1b[0m \x1b[2J\x1b]0;t\x07\x1b[1;32mgreen\x1b[0m"
    assert colours_only(text) == "\x1b[31mred\x1b[0m \x1b[1;32mgreen\x1b[0m"


def test_strip_ansi_and_one_line():
    assert strip_ansi("\x1b[31mred\x1b[0m") == "red"
    assert one_line("  a\n b \x1b[2J c ", 5) == "a b c"
    assert one_line("abcdefgh", 5) == "abcd…"
