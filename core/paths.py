"""Where kyzel-tui keeps its files: the data folder, the cache folder and the config file.

The data folder holds what the user made (the session database, adapters, exports and
`config.toml`): `--home` when given, else `$KYZEL_HOME`, else the platform's user data directory.
The cache folder holds what can be made again (the tiny test model, converted GGUF models,
prepared serving engines): the platform's user cache directory; each user of it may have its own
environment variable on top (`$KYZEL_TINY_CACHE`, `$KYZEL_MODEL_CACHE`). platformdirs is imported
inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "kyzel-tui"
CONFIG_NAME = "config.toml"


def default_home() -> Path:
    """Where kyzel-tui keeps its data: `$KYZEL_HOME`, else the platform's user data directory."""
    if env := os.environ.get("KYZEL_HOME"):
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def data_home(home: str | Path | None = None) -> Path:
    """The data folder: `home` (what `--home` said) when given, else `default_home()`."""
    return Path(home).expanduser() if home else default_home()


def cache_home() -> Path:
    """The platform's user cache directory for kyzel-tui."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME))


def config_path(home: str | Path | None = None) -> Path:
    """The config file in the data folder."""
    return data_home(home) / CONFIG_NAME
