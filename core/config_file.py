"""Reading one table of the config file (`config.toml` in the data folder).

`read_table(home, "keys", ...)` gives the table's values with the file's path and text (for
messages that name a line: `line_of`), an empty table when the file or the table is absent, and
a `ConfigFileError` naming the file when it cannot be read or parsed or the table is not a
table. The app reads `[keys]` (`kyzel_tui.config`), training reads `[train]`
(`training.settings`); what the values mean is theirs to check.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.paths import config_path


class ConfigFileError(ValueError):
    """The config file cannot be used; the message names it and says why."""

    def __init__(self, message: str, *, unreadable: bool) -> None:
        super().__init__(message)
        self.unreadable = unreadable
        """The file could not be read or parsed (not just one table of the wrong shape)."""


@dataclass(frozen=True)
class ConfigTable:
    path: Path
    values: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    """The whole file, for finding the line of a setting."""


def read_table(home: str | Path, name: str, shape: str) -> ConfigTable:
    """The `[name]` table of `<home>/config.toml`; `shape` ends the message when it is not a
    table (`[name] must be <shape>`)."""
    path = config_path(home)
    if not path.exists():
        return ConfigTable(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigFileError(f"{path}: {error}", unreadable=True) from error
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigFileError(f"{path}: [{name}] must be {shape}", unreadable=False)
    return ConfigTable(path, table, text)


def line_of(text: str, table: str, key: str) -> int:
    """The line that sets `key` (the first one after a `[table]` header), 1-based; 0 if not
    found."""
    in_table = False
    pattern = re.compile(rf"""^\s*["']?{re.escape(key)}["']?\s*=""")
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("["):
            in_table = stripped.replace(" ", "") == f"[{table}]"
        elif in_table and pattern.match(line):
            return number
    return 0
