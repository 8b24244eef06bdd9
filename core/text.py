"""Making foreign text safe to show: no terminal control sequences reach the user's terminal.

Text from the model, the kernel or a file may hold escape sequences that would clear, retitle or
hijack a terminal (over SSH too). `safe_text` removes them, keeping newlines and tabs.

Bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069) reorder what is shown without
changing what is there: code under review could look unlike the code that runs ("Trojan Source").
`safe_text` and everything built on it show each as a visible marker such as `⟨U+202E⟩`, so the
app and the command line both show text as it really is. `plain_label` removes them instead, for
names that are stored (titles, model names).
"""

from __future__ import annotations

import re

# CSI, OSC, DCS/SOS/PM/APC strings and two-character escapes, then any C0/C1 control left over.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[0-~]"
    r"|[\x9b][0-?]*[ -/]*[@-~]"
    r"|[\x9d][^\x07\x9c]*[\x07\x9c]?"
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def bidi_visible(text: str) -> str:
    """`text` with each bidi override or isolate replaced by a visible `⟨U+XXXX⟩` marker."""
    return _BIDI.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", text)


def strip_ansi(text: str) -> str:
    """`text` without terminal escape sequences (colours, cursor moves, titles, hyperlinks)."""
    return _ESCAPES.sub("", text)


_SGR = re.compile(r"\x1b\[[0-9;:]*m")


def colours_only(text: str) -> str:
    """`text` keeping its colour codes (SGR) and nothing else that a terminal would obey.

    For showing kernel output as the user expects it (a red traceback stays red) while a cursor
    move, a screen clear, a title change or a hyperlink never reaches the terminal.
    """
    kept: list[str] = []
    position = 0
    for match in _SGR.finditer(text):
        kept.append(safe_text(text[position : match.start()]))
        kept.append(match.group())
        position = match.end()
    kept.append(safe_text(text[position:]))
    return "".join(kept)


def safe_text(text: str) -> str:
    """`text` with every escape sequence and control character gone, newlines and tabs kept,
    and bidi overrides shown as markers.

    A lone carriage return becomes a newline so that progress bars do not overwrite lines.
    """
    text = strip_ansi(text.replace("\r\n", "\n")).replace("\r", "\n")
    return bidi_visible(_CONTROLS.sub("", text))


def one_line(text: str, width: int) -> str:
    """`text` made safe and squeezed onto one line of at most `width` characters."""
    line = " ".join(safe_text(text).split())
    return line if len(line) <= width else line[: max(width - 1, 0)] + "…"


def plain_label(text: str, width: int) -> str:
    """A name to store (a title, a model name): one line, no controls, no bidi overrides,
    at most `width` characters."""
    line = " ".join(_BIDI.sub("", _CONTROLS.sub(" ", strip_ansi(text))).split())
    return line if len(line) <= width else line[: max(width - 1, 0)] + "…"


_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def json_line(value: object) -> str:
    """`value` as one line of JSON that a terminal shows literally: JSON escapes C0 controls
    itself; C1 controls, DEL, line separators and bidi overrides are escaped here as \\uXXXX,
    so the line decodes to exactly the same value."""
    import json

    text = json.dumps(value, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
