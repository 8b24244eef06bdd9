"""Silencing transformers' progress bars, which garble a TUI and test logs.

transformers is imported inside the function, so importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """transformers' progress bars off for the duration (they garble a TUI and test logs)."""
    # transformers 5 draws tqdm bars for one-shard saves and loads: noise in a TUI or a test log.
    from transformers.utils import logging

    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            logging.enable_progress_bar()
