"""What training reads, and keeping things out of it: `--train --review` and `exclude`.

`review` lists every session and turn the next run would learn from (turns marked + are learnt,
- are shown as what not to write), so a user can check that nothing private slips in. `exclude`
records an `Exclusion` event on a turn, or on the session's first root for the whole session;
`--undo` records the opposite, since events are never deleted. Neither loads a model.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.store.database import Store, StoreError
from core.text import one_line


def review(sources: list[Any], built: Any) -> str:
    """Every session and turn that training would read, so the user can check it first."""
    from training.datasets import turn_quality, unadmitted_turns

    side = {sid: split for split, ids in built.sessions.items() for sid in ids}
    used = [s for s in sources if s.info.id in side]
    lines = [
        f"{len(used)} sessions would be trained on ({len(built.sessions['train'])} for training, "
        f"{len(built.sessions['eval'])} held out to evaluate); turns marked + are learnt from, "
        "- are shown to the model as what not to write:"
    ]
    for source in used:
        info, tree = source.info, source.tree
        count = {
            k: sum(r["session_id"] == info.id for s in built.rows[k].values() for r in s)
            for k in ("sft", "preference", "kto")
        }
        where = "store" if source.origin == "store" else f"example {source.origin}"
        lines.append(
            f"\n{info.id}  [{side[info.id]}]  {one_line(info.title or '(untitled)', 50)!r}  "
            f"({where})  {count['sft']} branches, {count['preference']} pairs, "
            f"{count['kto']} ratings"
        )
        for turn_id, reason in unadmitted_turns(tree):
            lines.append(f"  ! {turn_id}  unadmitted, never trained on: {one_line(reason, 80)}")
        for turn in tree.turns():
            quality = turn_quality(tree, turn.id)
            if quality is None:
                continue
            body = turn.body
            rest = body.code if body.code is not None else body.answer or ""
            first = next((ln for ln in rest.splitlines() if ln.strip()), "")
            lines.append(
                f"  {'+' if quality == 'good' else '-'} {turn.id}  "
                f"{one_line(body.thought.splitlines()[0] if body.thought else '', 40)}"
                f"  │ {one_line(first, 50)}"
            )
    excluded = [s for s in sources if s.tree.roots() and s.tree.excluded(s.tree.roots()[0])]
    idle = len(sources) - len(used) - len(excluded)
    if excluded:
        lines.append(f"\nexcluded sessions: {', '.join(s.info.id for s in excluded)}")
    if idle:
        lines.append(f"{idle} more sessions have nothing to learn from (no verdicts or edits)")
    lines.append("\nto keep something out: kyzel-tui exclude SESSION [--turn ID] [--reason TEXT]")
    return "\n".join(lines)


def exclude(args: argparse.Namespace) -> int:
    """`kyzel-tui exclude SESSION [--turn ID] [--undo] [--reason TEXT]`."""
    from core.events import Exclusion
    from core.session import Session

    try:
        with Store.open(args.home) as store:
            session = Session.open(store, store.resolve(args.session))
            roots = session.tree.roots()
            if not roots:
                raise StoreError(f"session {session.id} is empty: there is nothing to exclude")
            if args.turn:
                ref = args.turn.upper()
                turns = [t.id for t in session.tree.turns() if t.id.startswith(ref)]
                if len(turns) != 1:
                    found = "no turn" if not turns else f"{len(turns)} turns"
                    raise StoreError(
                        f"{found} of session {session.id} match {args.turn!r}: "
                        "`kyzel-tui --train --review` shows the turn ids"
                    )
                target, scope, what = turns[0], "turn", f"turn {turns[0]}"
            else:
                target, scope, what = roots[0], "session", f"session {session.id}"
            mark = Exclusion(scope=scope, excluded=not args.undo, reason=args.reason or "")
            session.append(mark, parent=target)
    except StoreError as error:
        print(f"kyzel-tui: {error}", file=sys.stderr)
        return 1
    print(f"{what} is {'back in' if args.undo else 'kept out of'} training")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """`exclude`; `--review` goes with `--train` (`kyzel_tui.cli.train.add_options`)."""
    parser = sub.add_parser("exclude", help="keep a session, or one turn of it, out of training")
    parser.add_argument("session", metavar="SESSION", help="id, unique id prefix, or exact title")
    parser.add_argument("--turn", metavar="ID", help="only this turn (id or unique prefix)")
    parser.add_argument("--undo", action="store_true", help="let it back into training")
    parser.add_argument("--reason", metavar="TEXT", help="why (kept with the mark)")
    parser.set_defaults(handler=exclude)
