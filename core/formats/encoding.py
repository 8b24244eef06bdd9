"""The bytes of a session file, made safe to hand to the XML parser.

Before any parser sees a file: it must be a regular file (a device such as `/dev/zero`, a FIFO
or a folder is refused before a byte is read), at most `max_bytes` long *as read* (a file that
grows while it is read, or lies about its size, is cut off at the limit and refused), in UTF-8 or
UTF-16 (any other encoding, UTF-7 included, is refused with a reason), and without a DTD, checked
on the decoded text so that no encoding can hide a `<!DOCTYPE`. What comes out is UTF-8 with the
same lines as the file, so that every `file:line:col` still points into the file as written.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from pathlib import Path


class InputError(ValueError):
    """The file cannot be read as a session; the message starts with `file:line:col:`."""


def read_bytes(path: Path, max_bytes: int) -> tuple[bytes, float]:
    """The file's bytes (at most `max_bytes`) and its modification time, or `InputError`."""
    try:
        before = os.stat(path)
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror}") from None
    _require_regular(path, before.st_mode)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        opened = os.fstat(file.fileno())
        _require_regular(path, opened.st_mode)  # it may have been swapped since the stat
        if opened.st_size > max_bytes:
            raise InputError(
                f"{path}:1:1: the file is {opened.st_size / 2**20:.1f} MiB, over the import limit "
                f"of {_limit(max_bytes)}; split the session or raise the limit with --max-size"
            )
        data = file.read(max_bytes + 1)  # the size a file claims is not what it holds (/proc)
    if len(data) > max_bytes:
        raise InputError(
            f"{path}:1:1: the file holds more than the import limit of {_limit(max_bytes)} "
            "(more than its size says); split the session or raise the limit with --max-size"
        )
    return data, opened.st_mtime


def _limit(size: int) -> str:
    return f"{size / 2**20:.0f} MiB" if size >= 2**20 else f"{size} bytes"


def _require_regular(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    what = (
        "a folder"
        if stat.S_ISDIR(mode)
        else "a FIFO"
        if stat.S_ISFIFO(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    raise InputError(f"{path}: is {what}, not a session file: give the path of an XML file")


_DECLARATION = re.compile(r"<\?xml[^>]*?\?>")
_ENCODING = re.compile(r"""(\sencoding\s*=\s*)(["'])([^"']*)\2""")
_ALLOWED = {"utf-8": "utf-8", "utf8": "utf-8", "utf-16": "utf-16", "utf16": "utf-16"}


def _sniff(data: bytes) -> tuple[str, int]:
    """The encoding the bytes themselves show (a byte order mark, or `<` as UTF-16) and the
    length of the mark."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8", 3
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32", 4
    if data.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le", 2
    if data.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be", 2
    if data.startswith(b"<\x00\x00\x00") or data.startswith(b"\x00\x00\x00<"):
        return "utf-32", 0
    if data.startswith(b"<\x00"):
        return "utf-16-le", 0
    if data.startswith(b"\x00<"):
        return "utf-16-be", 0
    return "utf-8", 0


def decode(data: bytes, name: str) -> str:
    """The file's text, from UTF-8 or UTF-16 only; any DTD refused after decoding."""
    encoding, mark = _sniff(data)
    if encoding == "utf-32":
        raise InputError(f"{name}:1:1: the file is in UTF-32; save it as UTF-8 and import it again")
    # The declaration is ASCII in every allowed encoding: check it before decoding the rest.
    head = data[mark : mark + 400].decode(encoding, "replace")
    declaration = _DECLARATION.match(head)
    declared = _ENCODING.search(declaration.group()) if declaration else None
    if declared:
        value = declared.group(3).strip().lower()
        if value not in _ALLOWED:
            raise InputError(
                f"{name}:1:1: the file declares encoding {declared.group(3)!r}; session files "
                "are UTF-8 or UTF-16: save it as UTF-8 and import it again"
            )
        family = "utf-16" if encoding.startswith("utf-16") else "utf-8"
        if _ALLOWED[value] != family:
            raise InputError(
                f"{name}:1:1: the file declares encoding {declared.group(3)!r} but is "
                f"written in {encoding.upper()}; fix the declaration or save it as UTF-8"
            )
    try:
        text = data[mark:].decode(encoding)
    except UnicodeDecodeError as error:
        newline = "\n".encode(encoding)
        line = data[mark : mark + error.start].count(newline) + 1
        raise InputError(
            f"{name}:{line}:1: not valid {encoding.upper()} ({error.reason}); save the file as "
            "UTF-8"
        ) from None
    refuse_dtd(text, name)
    return text


_PROLOG_ITEM = re.compile(r"\s+|<\?.*?\?>|<!--.*?-->", re.S)


def refuse_dtd(text: str, name: str) -> None:
    """Refuse a DTD: its entities are how XML importers get attacked (and no session needs one)."""
    position = 0
    while (item := _PROLOG_ITEM.match(text, position)) and item.end() > position:
        position = item.end()
    if text.startswith("<!DOCTYPE", position):
        line = text.count("\n", 0, position) + 1
        raise InputError(
            f"{name}:{line}:1: the file has a DTD (<!DOCTYPE ...>); session files never need one "
            "and its entity declarations can attack the importer: remove it"
        )


def as_utf8(text: str) -> bytes:
    """The text as UTF-8 bytes for the parser, its declaration (if any) saying so."""
    declaration = _DECLARATION.match(text)
    if declaration and _ENCODING.search(declaration.group()):
        fixed = _ENCODING.sub(r"\1\2UTF-8\2", declaration.group(), count=1)
        text = fixed + text[declaration.end() :]
    return text.encode("utf-8", "surrogatepass")
