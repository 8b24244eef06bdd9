"""The app in a real terminal with the scripted tiny model: for tmux tests that need to know
what the model writes and how slowly (the demo model's turns are random).

    python tests/scripted_app.py HOME TINY_CACHE SECONDS_PER_TOKEN TEXT [TEXT...]

The app is built with `make_app` exactly as the command line builds it; only the model differs.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.model.tiny import TinySpec, load_tiny_model  # noqa: E402
from kyzel_tui.app import make_app  # noqa: E402

from app_harness import app_config, as_loaded, model_writes  # noqa: E402


def main(home: str, cache: str, seconds: str, *texts: str) -> None:
    loaded = as_loaded(load_tiny_model(TinySpec(), cache_dir=cache))
    app = make_app(app_config(Path(home), loaded, max_new_tokens=400))
    delay = float(seconds)
    with model_writes(loaded, list(texts), on_step=lambda n: threading.Event().wait(delay)):
        app.run()


if __name__ == "__main__":
    main(*sys.argv[1:])
