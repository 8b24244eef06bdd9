"""The command-line options that point the app and `ask` at a serving engine instead of a local
model: `--server URL [--server-model NAME] [--engine auto|vllm|llamacpp|sglang]`.

The API key is never an option (it would sit in the shell's history and the process list): it is
read from `KYZEL_API_KEY` by `core.model.remote` when a request is made, and goes only into the
request's header, never into the database, an export or a log.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

ENGINE_CHOICES = ("auto", "vllm", "llamacpp", "sglang")


@dataclass(frozen=True)
class ServerChoice:
    """Which server to generate on, as the user asked; connected to when the app loads."""

    url: str
    model: str | None = None
    """The served model's name; None: the one the server serves (it must serve only one)."""
    engine: str = "auto"


def server_url(text: str) -> str:
    """An http(s) URL with a host, for argparse (which turns the error into a usage line)."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a server URL: give one like http://127.0.0.1:8080"
        )
    return text.strip().rstrip("/")


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """The server options, on the app's parser and on `ask`'s (given either before or after
    the command: on the command's parser they are only set when given there)."""
    _add(parser.add_argument_group("a serving engine instead of a local model"), None)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and "ask" in action.choices:
            _add(action.choices["ask"], argparse.SUPPRESS)


def _add(group: argparse._ActionsContainer, default: object) -> None:
    group.add_argument(
        "--server",
        type=server_url,
        default=default,
        metavar="URL",
        help="generate on this OpenAI-compatible server (vLLM, llama.cpp's llama-server, "
        "SGLang) under the same grammar; the API key, if it wants one, from KYZEL_API_KEY",
    )
    group.add_argument(
        "--server-model",
        default=default,
        metavar="NAME",
        help="the model to ask the server for (default: the one it serves)",
    )
    group.add_argument(
        "--engine",
        choices=ENGINE_CHOICES,
        default=default if default is not None else "auto",
        help="what runs on the server, which decides the grammar's form (default: auto, asked "
        "of the server)",
    )


def server_choice(args: argparse.Namespace) -> ServerChoice | None:
    """The server the user chose, or None; exits with a one-line message on a contradiction."""
    url = getattr(args, "server", None)
    if url is None:
        if getattr(args, "server_model", None) or getattr(args, "engine", "auto") != "auto":
            sys.exit("kyzel-tui: --server-model and --engine go with --server URL")
        return None
    local = [
        option
        for option, dest in (("--model", "model"), ("--demo", "demo"), ("--adapter", "adapter"))
        if getattr(args, dest, None) or getattr(args, f"app_{dest}", None)
    ]
    if local:
        sys.exit(
            f"kyzel-tui: {' and '.join(local)} choose a local model, --server a remote one: "
            "give one or the other"
        )
    return ServerChoice(url, getattr(args, "server_model", None), getattr(args, "engine", "auto"))
