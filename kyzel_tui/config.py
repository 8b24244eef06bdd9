"""What the app is started with, and the user's key bindings from the config file.

The config file is `config.toml` in the data folder (`--home`, `KYZEL_HOME` or the platform's
user data directory). Its `[keys]` table rebinds any action by its id, for example:

    [keys]
    run = "enter,y"
    retry = "R"
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config_file import ConfigFileError, read_table
from core.kernel.config import KernelConfig
from core.model.generate import Sampling
from core.paths import data_home
from kyzel_tui.server_options import ServerChoice


@dataclass
class AppConfig:
    home: Path | None = None
    model: str | None = None
    adapter: str | None = None
    default_adapter: bool = False
    """Without `adapter`: load the newest adapter that won its evaluation, looked up in the
    loading thread (it needs torch to know the base model, which the first frame must not wait
    for)."""
    demo: bool | str = False
    """True (or "smollm2"): the embedded model; "random": the tiny random model of the tests."""
    precision: str | None = None
    session: str | None = None
    """Open this session (id, id prefix or title); default: a new one on the first message."""
    auto: bool = False
    kernel: KernelConfig = field(default_factory=KernelConfig)
    sampling: Sampling = field(default_factory=Sampling)
    model_loader: Callable[[Callable[[str], None]], Any] | None = None
    """Loads the model (given a progress callback); tests hand in the tiny one."""
    keymap: dict[str, str] = field(default_factory=dict)
    server: ServerChoice | None = None
    """Generate on this serving engine instead of loading a model here."""

    @property
    def data_dir(self) -> Path:
        return data_home(self.home)


def read_keymap(folder: Path) -> tuple[dict[str, str], list[str]]:
    """The usable entries of the config file's `[keys]` table, and one message per problem
    (a broken file, an unknown action, an impossible key, an action left with no key), each
    naming the file and line; whatever is refused keeps its default keys."""
    from kyzel_tui.keys import check_keymap

    try:
        table = read_table(folder, "keys", 'map action names to keys, like run = "enter,y"')
    except ConfigFileError as error:
        return {}, [f"{error}; the default keys are used" if error.unreadable else str(error)]
    return check_keymap(table.values, table.text, str(table.path))
