"""Recovering hand-edited session files: escape what hand-editing leaves unescaped.

People editing XML by hand write `a && b`, `x < 1` and `]]>` in bodies. `recover_text` escapes
each stray `&`, `<` and `]]>` outside tags, comments and CDATA sections, so that the file parses
and imports without losing a character, and reports each fix with its `file:line:col`. It never
touches a DTD (refused before this runs) and knows the session elements only by name.
"""

from __future__ import annotations

import re

from core.formats.schema import KNOWN, XmlImportError

_TAG = re.compile(
    r"<(?:/?(?:session|root|events|blobs|blob|" + "|".join(sorted(KNOWN)) + r")(?=[\s/>])[^<>]*>"
    r"|!--.*?-->|!\[CDATA\[.*?\]\]>|\?.*?\?>|!DOCTYPE)",
    re.S,
)
_ENTITY = re.compile(r"&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);")


def recover_text(data: bytes, name: str) -> tuple[bytes, list[str]]:
    """Escape stray `&`, `<` and `]]>` in bodies; return the fixed bytes and the fixes made."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        col = error.start - data.rfind(b"\n", 0, error.start)
        raise XmlImportError(f"{name}:{line}:{col}: not valid UTF-8 ({error.reason})") from None
    out: list[str] = []
    fixes: list[str] = []
    line, line_start, i = 1, 0, 0
    while i < len(text):
        char = text[i]
        if char == "\n":
            line, line_start = line + 1, i + 1
        elif char == "<":
            tag = _TAG.match(text, i)
            if tag:
                out.append(tag.group())
                line += tag.group().count("\n")
                if "\n" in tag.group():
                    line_start = i + tag.group().rfind("\n") + 1
                i = tag.end()
                continue
            fixes.append(f"{name}:{line}:{i - line_start + 1}: escaped a stray '<' as &lt;")
            out.append("&lt;")
            i += 1
            continue
        elif char == "&" and not _ENTITY.match(text, i):
            fixes.append(f"{name}:{line}:{i - line_start + 1}: escaped a stray '&' as &amp;")
            out.append("&amp;")
            i += 1
            continue
        elif text.startswith("]]>", i):
            fixes.append(f"{name}:{line}:{i - line_start + 1}: escaped ']]>' outside CDATA")
            out.append("]]&gt;")
            i += 3
            continue
        out.append(char)
        i += 1
    return "".join(out).encode("utf-8"), fixes
