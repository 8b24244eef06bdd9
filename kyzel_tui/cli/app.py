"""`kyzel-tui` with no command: the app's options, and starting it.

The options turn into a `kyzel_tui.config.AppConfig`; an `--adapter` that names a run is resolved
(and checked) before the app takes the terminal, so a wrong one is a one-line error, not a screen.
"""

from __future__ import annotations

import argparse
import sys

from kyzel_tui.cli.options import add_demo, add_precision


def add_options(parser: argparse.ArgumentParser) -> None:
    app = parser.add_argument_group("the app (kyzel-tui with no command)")
    which = app.add_mutually_exclusive_group()
    which.add_argument(
        "--model",
        dest="app_model",
        metavar="ID|PATH",
        help="a hub id or a local folder (default: chosen by hardware)",
    )
    add_demo(which, dest="app_demo")
    add_precision(app, dest="app_precision")
    app.add_argument(
        "--adapter",
        dest="app_adapter",
        metavar="RUN|PATH",
        help="a LoRA adapter: latest (the newest for this model), a run id, a folder, or none "
        "(default: the newest one that improved its held-out figures)",
    )
    where = app.add_mutually_exclusive_group()
    where.add_argument(
        "--session",
        dest="app_session",
        metavar="ID",
        help="open this session (id, id prefix or title)",
    )
    where.add_argument(
        "--new", dest="app_new", action="store_true", help="start a new session (the default)"
    )
    app.add_argument(
        "--auto",
        dest="app_auto",
        action="store_true",
        help="run code without asking (always shown in the status bar)",
    )
    _add_kernel_options(app)
    _add_limits(app)


def _add_kernel_options(app: argparse._ArgumentGroup) -> None:
    kernel = app.add_mutually_exclusive_group()
    kernel.add_argument(
        "--kernel",
        dest="app_kernel",
        metavar="NAME",
        help="an installed Jupyter kernel spec (default: this Python)",
    )
    kernel.add_argument(
        "--existing",
        dest="app_existing",
        metavar="FILE",
        help="attach to a running kernel through its connection file",
    )


def _add_limits(app: argparse._ArgumentGroup) -> None:
    """How long a turn may be and how it samples; how long its code may run."""
    app.add_argument(
        "--temperature",
        dest="app_temperature",
        type=float,
        default=0.7,
        metavar="T",
        help="sampling temperature of the model's turns (default 0.7; 0 is greedy)",
    )
    app.add_argument(
        "--max-new-tokens",
        dest="app_max_new_tokens",
        type=int,
        default=1024,
        metavar="N",
        help="token budget of one turn (default 1024)",
    )
    app.add_argument(
        "--timeout",
        dest="app_timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds one code cell may run before it is interrupted (default 120)",
    )


def run_app(args: argparse.Namespace) -> int:
    from kyzel_tui.widgets.transcript.pictures import ask_terminal

    # Asked now, answered while the app loads, read just before Textual takes the terminal.
    probe = ask_terminal()
    try:
        return _run_app(args, probe)
    finally:
        if probe is not None:
            probe.finish(timeout=0)  # after an early return, the terminal is put back as it was


def _run_app(args: argparse.Namespace, probe) -> int:
    from core.kernel.runner import KernelConfig
    from core.model.generate import Sampling
    from core.store.database import StoreError
    from kyzel_tui.app import make_app
    from kyzel_tui.config import AppConfig
    from kyzel_tui.server_options import server_choice

    # "latest" and run ids name registry folders: resolved (and checked) before the app starts;
    # --adapter none: none; without --adapter, the newest adapter that won its evaluation, found
    # by the app while the model loads.
    adapter = None
    if args.app_adapter is not None:
        from kyzel_tui.model_choice import app_adapter

        adapter, ok = app_adapter(args)
        if not ok:
            return 1
    config = AppConfig(
        home=args.home,
        model=args.app_model,
        adapter=adapter,
        default_adapter=args.app_adapter is None,
        demo=args.app_demo or False,
        precision=args.app_precision,
        session=args.app_session,
        auto=args.app_auto,
        kernel=KernelConfig(
            kernel_name=args.app_kernel, existing=args.app_existing, timeout=args.app_timeout
        ),
        sampling=Sampling(temperature=args.app_temperature, max_new_tokens=args.app_max_new_tokens),
        server=server_choice(args),
    )
    try:
        app = make_app(config)
    except StoreError as error:
        print(f"kyzel-tui: {error}", file=sys.stderr)
        return 1
    if probe is not None:
        probe.finish()  # now or never: once the app runs, Textual reads what the terminal says
    app.run()
    return app.return_code or 0
