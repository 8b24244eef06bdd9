"""The train/held-out split: by groups of near-duplicate sessions, stratified on preference pairs.

Two sessions are one group when they are the same task saved twice (or nearly): first user
messages (the task) that are the same once normalised (case, spacing and punctuation ignored) or
whose three-word shingles overlap by `SAME_TASK` (Jaccard) or more, or whole conversations whose
five-word shingles overlap by `SAME_TEXT` or more. A group is always on one side, so a
held-out figure is never measured on a copy of a training session.

Groups are split in two strata, those that yield preference pairs and those that do not, each
with the same held-out share chosen by a stable hash of the group (the same group always lands
on the same side); a stratum of two or more groups keeps at least one on each side. So when pairs
come from two or more groups, some are held out and preference accuracy can be measured.
It knows only row dictionaries and session ids.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from core.chat import prefix_length

SAME_TASK = 0.6
SAME_TEXT = 0.8


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _shingles(text: str, size: int) -> set[tuple[str, ...]]:
    words = normalise(text).split()
    if len(words) < size:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def _jaccard(a: set, b: set) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def texts(rows: Any) -> list[str]:
    """The messages of a session's first row (SFT, else a preference or KTO prompt), the fixed
    prefix (system message, example exchanges) left out: the task (first user message) first."""
    for row in [*rows.sft, *rows.preference, *rows.kto]:
        messages = row.get("messages") or row.get("prompt") or []
        found = [m["content"] for m in messages[prefix_length(messages) :]]
        if found:
            return found
    return []


def groups(texts: dict[str, list[str]]) -> list[list[str]]:
    """Session ids in groups of near-duplicates (each group sorted, groups by first id)."""
    ids = sorted(texts)
    parent = {s: s for s in ids}

    def root(s: str) -> str:
        while parent[s] != s:
            parent[s] = parent[parent[s]]
            s = parent[s]
        return s

    task = {s: _shingles(texts[s][0], 3) if texts[s] else set() for s in ids}
    first = {s: normalise(texts[s][0]) if texts[s] else "" for s in ids}
    whole = {s: _shingles("\n".join(texts[s]), 5) for s in ids}
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            if (
                (first[a] and first[a] == first[b])
                or _jaccard(task[a], task[b]) >= SAME_TASK
                or _jaccard(whole[a], whole[b]) >= SAME_TEXT
            ):
                parent[root(b)] = root(a)
    out: dict[str, list[str]] = {}
    for s in ids:
        out.setdefault(root(s), []).append(s)
    return sorted(out.values())


def _hash(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)


def _stratum(members: list[list[str]], share: float) -> list[list[str]]:
    """The held-out groups of one stratum."""
    if share <= 0:
        return []
    held = [g for g in members if _hash(g[0]) % 10_000 < share * 10_000]
    if len(members) >= 2:
        if not held:
            held = [min(members, key=lambda g: _hash(g[0]))]
        if len(held) == len(members):
            held = held[:-1]
    return held


def split_groups(per_session: dict[str, Any], share: float) -> tuple[list[str], list[str], int]:
    """(train ids, held-out ids, number of groups) for sessions' rows (`SessionRows`)."""
    found = groups({sid: texts(rows) for sid, rows in per_session.items()})
    with_pairs = [g for g in found if any(per_session[s].preference for s in g)]
    without = [g for g in found if g not in with_pairs]
    held = _stratum(with_pairs, share) + _stratum(without, share)
    if not held and len(found) >= 2 and share > 0:
        pool = without or with_pairs
        held = [min(pool, key=lambda g: _hash(g[0]))]
    held_ids = sorted(s for g in held for s in g)
    train_ids = sorted(s for g in found if g not in held for s in g)
    return train_ids, held_ids, len(found)
