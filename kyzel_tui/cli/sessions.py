"""The subcommands that work on the store: sessions, import, export, rename, delete.

Each returns an exit status; errors go to standard error as one clear line that says what to do.
Exports are private to the user (0600): a session holds whatever the code printed. Their options
are declared first (`register`); none of them loads torch or a model.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

from core.store.database import SessionInfo, Store, StoreError
from core.text import json_line, one_line, safe_text


def register(sub: argparse._SubParsersAction) -> None:
    sessions = sub.add_parser("sessions", help="list sessions, newest first")
    sessions.add_argument("--search", metavar="TEXT", help="only sessions whose text has TEXT")
    sessions.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    sessions.add_argument("--json", action="store_true", help="one JSON object per line")

    imp = sub.add_parser("import", help="import sessions from XML files (kyzel or ours)")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE", help="XML session files")
    imp.add_argument(
        "--recover",
        action="store_true",
        help="escape stray '&' and '<' in hand-edited files, reporting each fix",
    )
    imp.add_argument(
        "--max-size",
        type=float,
        default=32,
        metavar="MIB",
        help="refuse files larger than this (default 32 MiB)",
    )
    _add_export(sub)

    rename = sub.add_parser("rename", help="give a session a new title")
    rename.add_argument("session", metavar="SESSION", help="id, unique id prefix, or exact title")
    rename.add_argument("title", metavar="TITLE", help="the new title (not empty)")

    delete = sub.add_parser("delete", help="delete a session and all its events, for good")
    delete.add_argument("session", metavar="SESSION", help="id, unique id prefix, or exact title")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    for name in ("sessions", "import", "export", "rename", "delete"):
        sub.choices[name].set_defaults(handler=run)


def _add_export(sub: argparse._SubParsersAction) -> None:
    exp = sub.add_parser("export", help="write a session as XML or as a Jupyter notebook")
    exp.add_argument("session", metavar="SESSION", help="id, unique id prefix, or exact title")
    exp.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: standard output")
    exp.add_argument(
        "--format",
        choices=("xml", "ipynb"),
        help="xml (default; ipynb when FILE ends with .ipynb), or ipynb: the current branch "
        "as a notebook",
    )
    scope = exp.add_mutually_exclusive_group()
    scope.add_argument(
        "--tree", dest="branch", action="store_false", help="every branch (the default)"
    )
    scope.add_argument(
        "--branch",
        dest="branch",
        action="store_true",
        help="only the path from the first event to the head",
    )
    exp.set_defaults(branch=None)  # None: neither given, so --tree can be told from the default


def run(args: argparse.Namespace) -> int:
    handler = {
        "sessions": list_sessions,
        "import": import_files,
        "export": export_session,
        "rename": rename_session,
        "delete": delete_session,
    }[args.command]
    try:
        with Store.open(args.home) as store:
            return handler(store, args)
    except StoreError as error:
        print(f"kyzel-tui: {error}", file=sys.stderr)
        return 1


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def list_sessions(store: Store, args: argparse.Namespace) -> int:
    infos = store.sessions(search=args.search, limit=args.limit)
    if args.json:
        for info in infos:
            print(json_line(info.__dict__))
        return 0
    if not infos:
        hint = f"no session matches {args.search!r}" if args.search else "no sessions yet"
        print(f"{hint}; `kyzel-tui import FILE` brings sessions in from XML.")
        return 0
    print(f"{'ID':26}  {'UPDATED':16}  {'EVENTS':>6}  TITLE")
    for info in infos:
        print(
            f"{info.id:26}  {_when(info.updated):16}  {info.events:>6}  {one_line(info.title, 60)}"
        )
        if args.search:
            for hit in store.search(args.search, limit=200):
                if hit.session_id == info.id:
                    print(f"{'':28}…{one_line(hit.snippet, 80)}")
                    break
    return 0


def import_files(store: Store, args: argparse.Namespace) -> int:
    from core.formats.read import XmlImportError, import_session, read_session

    failed = 0
    for path in args.files:
        if not path.is_file():
            failed += 1
            why = "a folder, not a file" if path.is_dir() else "no such file"
            print(f"{path}: {why}\n  nothing was imported from {path}", file=sys.stderr)
            continue
        try:
            parsed = read_session(path, recover=args.recover, max_bytes=int(args.max_size * 2**20))
            info, copied = import_session(store, parsed)
        except XmlImportError as error:
            failed += 1
            malformed = "--max-size" not in str(error) and "cannot read" not in str(error)
            hint = " (hand-edited? try --recover)" if malformed and not args.recover else ""
            print(
                safe_text(f"{error}{hint}\n  nothing was imported from {path}"),
                file=sys.stderr,
            )
            continue
        except (StoreError, ValueError) as error:
            failed += 1
            print(f"{safe_text(f'{path}: {error}')}\n  nothing was imported", file=sys.stderr)
            continue
        for fix in parsed.fixes:
            print(f"  fixed {safe_text(fix)}")
        kinds = Counter(e.kind for e in parsed.events)
        copy_note = " as a copy with new ids (it was imported before)" if copied else ""
        print(
            f"imported {safe_text(str(path))} -> session {info.id}{copy_note}: "
            f"{one_line(info.title, 50)!r}, "
            f"{kinds['user']} messages, {kinds['turn']} turns, {kinds['result']} results"
        )
    return 1 if failed else 0


def export_session(store: Store, args: argparse.Namespace) -> int:
    from core.session import Session

    output: Path | None = args.output
    fmt = getattr(args, "format", None)
    if fmt is None:
        fmt = "ipynb" if output is not None and output.suffix.lower() == ".ipynb" else "xml"
    branch = getattr(args, "branch", None)
    if fmt == "ipynb" and branch is False:
        print(
            "kyzel-tui: a notebook holds one branch, so --tree cannot be exported as ipynb: "
            "drop --tree to export the current branch, or use --format xml for every branch",
            file=sys.stderr,
        )
        return 2
    session = Session.open(store, store.resolve(args.session))
    if fmt == "ipynb":
        from core.formats.notebook import session_to_notebook

        text = session_to_notebook(session.info, session.tree, blob=store.blob)
        scope = "the current branch as a notebook"
    else:
        from core.formats.write import session_to_xml

        text = session_to_xml(session.info, session.tree, branch_only=bool(branch), blob=store.blob)
        scope = "the current branch" if branch else "every branch"
    if output is None:
        sys.stdout.write(safe_text(text) if sys.stdout.isatty() else text)  # a pipe gets it exact
        return 0
    write_private(output, text)
    print(f"exported {session.id} ({scope}) to {safe_text(str(output))}", file=sys.stderr)
    return 0


def write_private(path: Path, text: str) -> None:
    """Write `text` readable by the user alone (0600), to a temporary sibling then renamed: a
    full disk never leaves half a file, and a file that was there is replaced, mode included."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.unlink(missing_ok=True)  # a stale one may have a wider mode
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        tmp.replace(path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {path}: {error.strerror}") from error


def rename_session(store: Store, args: argparse.Namespace) -> int:
    if not one_line(args.title, 200).strip():
        print(
            "kyzel-tui: a session needs a title with some text in it, e.g. "
            "`kyzel-tui rename ID 'sales plots'`",
            file=sys.stderr,
        )
        return 2
    session_id = store.resolve(args.session)
    store.rename(session_id, args.title)
    print(f"renamed {session_id} to {args.title!r}")
    return 0


def delete_session(store: Store, args: argparse.Namespace) -> int:
    info: SessionInfo = store.session(store.resolve(args.session))
    label = f"{info.id} {one_line(info.title, 50)!r} ({info.events} events)"
    if not args.yes:
        if not sys.stdin.isatty():
            print(f"kyzel-tui: refusing to delete {label} without --yes", file=sys.stderr)
            return 1
        answer = input(f"delete {label} for good? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    store.delete_session(info.id)
    print(f"deleted {label}")
    return 0
