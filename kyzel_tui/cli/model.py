"""The subcommands that need a model or its tokenizer: `ask` and `lint`.

`ask` generates one turn headless, streaming it to standard output; `lint` runs the admission
check of the turn grammar over every turn of XML files or stored sessions. Both print their
errors as one line that says what to do, and load torch and transformers only when they run.
Their options are declared at the end (`register`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from core.text import one_line, safe_text
from kyzel_tui.cli.options import add_model_options


def _progress(message: str) -> None:
    print(f"· {message}", file=sys.stderr, flush=True)


def ask(args: argparse.Namespace) -> int:
    from core.chat import task_messages
    from core.model.generate import Sampling
    from core.model.remote import RemoteError

    backend = _backend(args)
    if backend is None:
        return 1
    sampling = Sampling(
        temperature=args.temperature, max_new_tokens=args.max_new_tokens, seed=args.seed
    )
    try:
        generation = backend.start(task_messages(args.prompt), sampling)
    except ValueError as error:  # a budget too small for the tags
        print(f"kyzel-tui: {error}", file=sys.stderr)
        return 2
    try:
        return _print_turn(args, generation, backend.label)
    except RemoteError as error:  # the server failed mid-reply, or ignored the grammar
        print(f"\nkyzel-tui: {safe_text(str(error))}", file=sys.stderr)
        return 1


def _backend(args: argparse.Namespace):
    """The model `ask` generates with: a serving engine with --server, else one loaded here
    (None after saying why it could not be had)."""
    from core.model.backend import RemoteBackend, TransformersBackend
    from core.model.loading import ModelLoadError, load_or_explain
    from core.model.remote import RemoteError
    from grammars.constraint import constraint_for
    from kyzel_tui.cli.train import data_home
    from kyzel_tui.model_choice import choose_adapter, default_adapters, for_generation
    from kyzel_tui.server_options import server_choice

    server = server_choice(args)
    if server is not None:
        _progress(f"connecting to {server.url}")
        try:
            return RemoteBackend.connect(server.url, server.model, server.engine)
        except RemoteError as error:
            print(f"kyzel-tui: {safe_text(str(error))}", file=sys.stderr)
            return None
    by_default = args.adapter is None and args.demo != "random"  # the rule, for what loads
    adapter, ok = (
        (None, True)
        if by_default
        else choose_adapter(args.adapter, args.model, args.demo, data_home(args))
    )
    if not ok:
        return None
    try:
        loaded = load_or_explain(
            args.model,
            demo=args.demo or False,
            adapter=adapter,
            precision=args.precision,
            progress=_progress,
            default_adapter=default_adapters(data_home(args)) if by_default else None,
        )
        loaded = for_generation(loaded)
    except ModelLoadError as error:
        hint = "" if args.demo or "--demo" in str(error) else " (or run with --demo)"
        print(f"kyzel-tui: {error}{hint}", file=sys.stderr)
        return None
    if loaded.notice:
        _progress(loaded.notice)
    if loaded.demo:
        print(
            "· DEMO MODEL: random weights; what follows is noise shaped by the grammar",
            file=sys.stderr,
        )
    _progress("preparing the turn grammar for this tokenizer")
    constraint_for(loaded.tokenizer)  # once per tokenizer: a second or so on a big vocabulary
    return TransformersBackend(loaded)


def _print_turn(args: argparse.Namespace, generation, label: str) -> int:
    for chunk in generation:
        if not args.json:
            sys.stdout.write(safe_text(chunk) if sys.stdout.isatty() else chunk)
            sys.stdout.flush()
    turn = generation.result()
    stats = turn.stats
    if turn.settings.get("interrupted"):  # the server went away mid-turn
        print(f"\nkyzel-tui: {safe_text(turn.settings['interrupted'])}", file=sys.stderr)
        return 1
    if args.json:
        fields = turn.fields
        print(
            json.dumps(
                {
                    "thought": fields.thought if fields else None,
                    "code": fields.code if fields else None,
                    "answer": fields.answer if fields else None,
                    "raw": turn.raw,
                    "model": label,
                    "stats": stats.as_dict(),
                    "sampling": turn.settings,
                },
                ensure_ascii=False,
            )
        )
    else:
        print()
        print(
            f"· {stats.output_tokens} tokens in {stats.seconds:.2f} s "
            f"({stats.tokens_per_second:.1f} tokens/s, first after "
            f"{(stats.time_to_first_token or 0) * 1000:.0f} ms, constraint "
            f"{stats.constraint_seconds * 1000:.1f} ms) · {label}"
            + (" · cut at the token budget and closed" if turn.settings.get("cut") else ""),
            file=sys.stderr,
        )
    return 0


def _turns_of_files(args: argparse.Namespace) -> Iterator[tuple[str, list]]:
    from core.formats.read import XmlImportError, read_session
    from core.tree import SessionTree

    for path in args.files:
        try:
            parsed = read_session(path, recover=args.recover)
        except XmlImportError as error:
            raise LintInputError(str(error)) from None
        tree = SessionTree(parsed.info.id, parsed.events, head=parsed.info.head)
        yield str(path), tree.turns()


def _turns_of_store(args: argparse.Namespace) -> Iterator[tuple[str, list]]:
    from core.session import Session
    from core.store.database import Store

    with Store.open(args.home) as store:
        ids = (
            [s.id for s in store.sessions()]
            if args.all
            else [store.resolve(ref) for ref in args.session]
        )
        for session_id in ids:
            session = Session.open(store, session_id)
            yield f"session {session_id}", session.tree.turns()


class LintInputError(ValueError):
    """A file or session that cannot be read for linting."""


def lint(args: argparse.Namespace) -> int:
    from core.chat import turn_text
    from core.model.loading import ModelLoadError, load_tokenizer
    from core.store.database import StoreError
    from grammars.constraint import constraint_for

    if not (args.files or args.session or args.all):
        print("kyzel-tui lint: give XML files, --session ID or --all", file=sys.stderr)
        return 2
    try:
        label, tokenizer = load_tokenizer(args.model, demo=args.demo or False, progress=_progress)
    except ModelLoadError as error:
        print(f"kyzel-tui: {error} (or lint with --demo's tokenizer)", file=sys.stderr)
        return 1
    constraint = constraint_for(tokenizer)
    checked = refused = 0
    sources = _turns_of_files(args) if args.files else _turns_of_store(args)
    try:
        for name, turns in sources:
            for event in turns:
                checked += 1
                text = turn_text(event.body)
                admission = constraint.admit(text)
                if admission.admitted:
                    continue
                refused += 1
                at = admission.char_offset or 0
                context = one_line(text[max(0, at - 30) : at + 30], 70)
                print(
                    f"{name}: turn {event.id}: refused at character {at} "
                    f"(token {admission.token_index}): {admission.reason}\n    near: {context}"
                )
    except (LintInputError, StoreError) as error:
        print(f"kyzel-tui: {safe_text(str(error))}", file=sys.stderr)
        return 1
    verdict = "all admitted" if not refused else f"{refused} refused"
    print(f"{checked} turns checked against the turn grammar ({label}): {verdict}")
    return 1 if refused else 0


def register(sub: argparse._SubParsersAction) -> None:
    ask_parser = sub.add_parser("ask", help="generate one turn for PROMPT, headless, and print it")
    ask_parser.add_argument("prompt", metavar="PROMPT", help="the request, as typed in the app")
    add_model_options(ask_parser)
    ask_parser.add_argument(
        "--adapter",
        metavar="RUN|PATH",
        help="latest, a run id, a folder, or none (default: the newest that improved)",
    )
    ask_parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=1024,
        metavar="N",
        help="token budget of the whole turn (default 1024)",
    )
    ask_parser.add_argument(
        "--temperature", type=float, default=0.7, help="default 0.7; 0 is greedy"
    )
    ask_parser.add_argument("--seed", type=int, help="for a repeatable sample")
    ask_parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: the fields, the raw text and the figures",
    )
    ask_parser.set_defaults(handler=ask)

    lint_parser = sub.add_parser(
        "lint", help="check every turn of XML files or stored sessions against the turn grammar"
    )
    lint_parser.add_argument(
        "files", nargs="*", type=Path, metavar="FILE", help="XML session files"
    )
    lint_parser.add_argument(
        "--session", action="append", default=[], metavar="ID", help="a stored session (repeatable)"
    )
    lint_parser.add_argument("--all", action="store_true", help="every stored session")
    lint_parser.add_argument(
        "--recover", action="store_true", help="read hand-edited files leniently"
    )
    add_model_options(lint_parser, what="whose tokenizer the grammar is checked with")
    lint_parser.set_defaults(handler=lint)
