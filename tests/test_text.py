"""Foreign text made safe for the terminal."""

from __future__ import annotations

import pytest

from core.text import colours_only, one_line, plain_label, safe_text, strip_ansi

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


def test_bidi_overrides_are_shown_as_markers_everywhere_the_sanitiser_runs():
    # Trojan Source: the override makes the comment look like it ends the line's code.
    code = 'access = "user"  # \u202e } \u2066if admin\u2069 \u2066'
    shown = safe_text(code)
    assert not any(ch in shown for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert "⟨U+202E⟩" in shown and shown.count("⟨U+2066⟩") == 2 and "⟨U+2069⟩" in shown
    assert "⟨U+202E⟩" in one_line("title \u202e", 40)
    assert colours_only("\x1b[31m\u202ared\x1b[0m") == "\x1b[31m⟨U+202A⟩red\x1b[0m"
    assert safe_text("עברית and العربية") == "עברית and العربية"  # plain RTL text is untouched


def test_plain_label_drops_controls_and_bidi_and_caps_the_length():
    assert plain_label("a\u202eb\x1b[2J\tc\u0085d", 50) == "ab c d"
    assert plain_label("x" * 600, 500) == "x" * 499 + "…"


def test_json_line_escapes_what_a_terminal_would_obey_and_decodes_to_the_same_value():
    import json

    from core.text import json_line

    value = {"title": "a\x9b2J\u202eb\x1b[2J\u2028c é"}
    line = json_line(value)
    assert not any(ch in line for ch in "\x9b\u202e\x1b\u2028")
    assert json.loads(line) == value and "é" in line
