"""Datasets from recorded corrections: SFT, preference and KTO rows, with an explicit loss mask.

What counts as a good turn, from what the user did:
- good: accepted (its code ran), rated up, or an edit the user made (not later rejected);
  an answer that was not rated down;
- bad: rejected, rated down, edited away (an edited sibling names it as its source), or retried
  away (a sibling under the same parent was accepted and it was not).
Excluded turns and sessions (`exclude` events) are in no row at all, and so is any turn the turn
grammar does not admit (`core.admission`: an imported turn marked `unadmitted`, or any turn whose
text the grammar refuses, whatever its source): it is never learnt from, never a side of a
preference pair, never a KTO row; `unadmitted_turns` lists them for `--train --review`.

Rows:
- SFT: one per branch (root to leaf), every message as the model saw it (`core.chat`, the same
  renderer as inference), loss on the good assistant turns only;
- preference (`prompt`, `chosen`, `rejected`): a good turn against each bad sibling under the
  same parent, and an edited turn against its original;
- KTO (`prompt`, `completion`, `label`): every rated turn.
The ids and the loss mask come from `core.chat.render` (here under its training name,
`render_with_mask`), from the rendered text, not from template markers (most chat templates carry
none). Splits are by session, never by row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from core.admission import UNADMITTED, is_admitted, refusal
from core.chat import RENDER_VERSION, prefix_length, prompt_messages, turn_text

# Training's names for the renderer's parts (core.chat), imported from here by training's modules.
from core.chat import MaskError as MaskError
from core.chat import render as render_with_mask  # noqa: F401
from core.events import Event
from core.store.database import SessionInfo
from core.tree import SessionTree


def _edited_away(tree: SessionTree) -> set[str]:
    return {t.body.source for t in tree.turns() if t.body.origin == "edited" and t.body.source}


def turn_quality(
    tree: SessionTree, turn_id: str, edited_away: set[str] | None = None
) -> str | None:
    """ "good", "bad", or None (no signal either way)."""
    body = tree.node(turn_id).body
    if tree.excluded(turn_id) or not is_admitted(body) or body.meta.get("status") == "stopped":
        return None
    if body.meta.get("cut"):
        return None  # closed by the client when the budget ran out: not how the model ends
    edited_away = _edited_away(tree) if edited_away is None else edited_away
    decision, rating = tree.decision(turn_id), tree.rating(turn_id)
    body = tree.node(turn_id).body
    if rating == "down" or (decision is not None and decision.value == "rejected"):
        return "bad"
    if turn_id in edited_away:
        return "bad"
    if rating == "up" or (decision is not None and decision.value == "accepted"):
        return "good"
    if body.origin == "edited":
        return "good"
    siblings = [s for s in tree.siblings(turn_id) if s != turn_id]
    if any(
        tree.decision(s) is not None and tree.decision(s).value == "accepted"
        for s in siblings
        if tree.node(s).kind == "turn"
    ):
        return "bad"  # retried away: the user went on with a sibling
    if body.answer is not None:
        return "good"
    return None


def _prompt(tree: SessionTree, turn: Event) -> list[dict[str, str]]:
    return prompt_messages(tree, turn.parent_id)


@dataclass
class SessionRows:
    session_id: str
    sft: list[dict[str, Any]] = field(default_factory=list)
    preference: list[dict[str, Any]] = field(default_factory=list)
    kto: list[dict[str, Any]] = field(default_factory=list)


def session_rows(info: SessionInfo, tree: SessionTree) -> SessionRows:
    """All rows one session yields."""
    rows = SessionRows(info.id)
    if any(tree.excluded(root) for root in tree.roots()) and tree.roots():
        return rows
    away = _edited_away(tree)
    quality = {t.id: turn_quality(tree, t.id, away) for t in tree.turns()}
    for leaf in tree.leaves():
        messages = prompt_messages(tree, leaf)
        # After the fixed prefix (never trained on), the renderer emits one assistant message
        # per turn, in path order.
        turns = [e for e in tree.path(leaf) if e.kind == "turn"]
        flags = iter(quality[t.id] == "good" for t in turns)
        head = prefix_length(messages)
        trainable = [False] * head + [
            next(flags) if m["role"] == "assistant" else False for m in messages[head:]
        ]
        if any(trainable):
            rows.sft.append(
                {
                    "session_id": info.id,
                    "leaf_id": leaf,
                    "messages": messages,
                    "trainable": trainable,
                }
            )
    for turn in tree.turns():
        if quality[turn.id] != "good":
            continue
        losers = [
            s
            for s in tree.siblings(turn.id)
            if s != turn.id and tree.node(s).kind == "turn" and quality[s] == "bad"
        ]
        if (
            turn.body.origin == "edited"
            and turn.body.source in tree
            and turn.body.source not in losers
            and not tree.excluded(turn.body.source)
            and is_admitted(tree.node(turn.body.source).body)
        ):
            losers.append(turn.body.source)
        prompt = _prompt(tree, turn)
        for loser in losers:
            kind = (
                "edit"
                if loser == turn.body.source
                else (
                    "rejection"
                    if tree.decision(loser) and tree.decision(loser).value == "rejected"
                    else "retry"
                )
            )
            rows.preference.append(
                {
                    "session_id": info.id,
                    "prompt": prompt,
                    "chosen": turn_text(turn.body),
                    "rejected": turn_text(tree.node(loser).body),
                    "kind": kind,
                    "chosen_id": turn.id,
                    "rejected_id": loser,
                }
            )
    for turn in tree.turns():
        rating = tree.rating(turn.id)
        if rating and not tree.excluded(turn.id) and is_admitted(turn.body):
            rows.kto.append(
                {
                    "session_id": info.id,
                    "prompt": _prompt(tree, turn),
                    "completion": turn_text(turn.body),
                    "label": rating == "up",
                    "turn_id": turn.id,
                }
            )
    return rows


def unadmitted_turns(tree: SessionTree) -> list[tuple[str, str]]:
    """(turn id, reason) for every turn of the session that the turn grammar does not admit."""
    out = []
    for turn in tree.turns():
        reason = turn.body.meta.get(UNADMITTED) or refusal(turn.body)
        if reason:
            out.append((turn.id, str(reason)))
    return out


def is_eval_session(session_id: str, eval_share: float) -> bool:
    """A stable choice per session: the same session is always on the same side."""
    digest = int(hashlib.sha256(session_id.encode()).hexdigest()[:8], 16)
    return digest % 10_000 < eval_share * 10_000


def split_sessions(session_ids: list[str], eval_share: float) -> tuple[list[str], list[str]]:
    """(train, eval) session ids; with two or more sessions, at least one of each."""
    ids = sorted(session_ids)
    held = [s for s in ids if is_eval_session(s, eval_share)]
    if len(ids) >= 2 and eval_share > 0:
        if not held:
            held = [min(ids, key=lambda s: hashlib.sha256(s.encode()).hexdigest())]
        if len(held) == len(ids):
            held = held[:-1]
    return [s for s in ids if s not in held], held


def show_mask(tokenizer: Any, ids: list[int], mask: list[int]) -> str:
    """The rendered text with the trained spans between ⟦ and ⟧, for people to check."""
    out, current, inside = [], [], 0
    for token, learn in zip(ids, mask, strict=True):
        if learn != inside:
            out.append(tokenizer.decode(current))
            out.append("⟦" if learn else "⟧")
            current, inside = [], learn
        current.append(token)
    out.append(tokenizer.decode(current))
    if inside:
        out.append("⟧")
    return "".join(out)


def manifest_fields() -> dict[str, Any]:
    return {"render_version": RENDER_VERSION}


def completion_ids(tokenizer: Any, prompt: list[dict[str, str]], text: str) -> tuple[list, list]:
    """(ids, mask) of the assistant turn `text` after `prompt`, the mask on the turn only."""
    messages = [*prompt, {"role": "assistant", "content": text}]
    return render_with_mask(tokenizer, messages, [False] * len(prompt) + [True])
