"""Building the training data: collect sessions, make rows, split by session, write them out.

Sessions come from the store (all, or chosen ones) and from the curated XML files in
`data/sessions/`; they are split by groups of near-duplicate sessions (`training.split`). The
output folder holds, for each kind (sft, preference, kto) and each split (train, eval), a
Hugging Face `datasets` folder and a JSONL file, plus `manifest.json`: counts,
sessions on each side, file hashes and the rendering's version, so that an adapter can say
exactly what it was trained on. The folder is written under a hidden temporary name and renamed
into place when complete (a full disk leaves nothing half-written), private to the user: 0700
folders, 0600 files, whatever the umask.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.store.database import SessionInfo, Store
from core.tree import SessionTree
from training.datasets import (
    SessionRows,
    manifest_fields,
    render_with_mask,
    session_rows,
)
from training.registry import make_private, private_folder
from training.split import split_groups

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "sessions"
KINDS = ("sft", "preference", "kto")


@dataclass
class Source:
    info: SessionInfo
    tree: SessionTree
    origin: str
    """"store" or the example file's name."""


def collect(
    store: Store | None,
    session_ids: list[str] | None = None,
    examples: Path | None = EXAMPLES,
) -> list[Source]:
    """The sessions to learn from: the store's (or the chosen ones), then the example files."""
    from core.formats.read import read_session
    from core.session import Session

    sources: list[Source] = []
    if store is not None:
        ids = session_ids if session_ids is not None else [s.id for s in store.sessions()]
        for session_id in ids:
            session = Session.open(store, session_id)
            sources.append(Source(session.info, session.tree, "store"))
    if examples is not None and examples.is_dir():
        for path in sorted(examples.glob("*.xml")):
            parsed = read_session(path)
            tree = SessionTree(parsed.info.id, parsed.events, head=parsed.info.head)
            sources.append(Source(parsed.info, tree, path.name))
    return sources


@dataclass
class Built:
    """What `build` made, in memory (for training at once) and on disk."""

    rows: dict[str, dict[str, list[dict[str, Any]]]]
    """kind -> split -> rows."""
    manifest: dict[str, Any]
    folder: Path | None = None
    sessions: dict[str, list[str]] = field(default_factory=dict)


def make_rows(sources: list[Source], eval_share: float = 0.2) -> Built:
    per_session: dict[str, SessionRows] = {s.info.id: session_rows(s.info, s.tree) for s in sources}
    useful = {sid: r for sid, r in per_session.items() if r.sft or r.preference or r.kto}
    train, held, group_count = split_groups(useful, eval_share)
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {k: {"train": [], "eval": []} for k in KINDS}
    for split, ids in (("train", train), ("eval", held)):
        for session_id in ids:
            got = per_session[session_id]
            rows["sft"][split] += got.sft
            rows["preference"][split] += got.preference
            rows["kto"][split] += got.kto
    manifest = {
        **manifest_fields(),
        "created": time.time(),
        "sessions": {"train": train, "eval": held},
        "groups": group_count,
        "origins": {s.info.id: s.origin for s in sources if s.info.id in useful},
        "counts": {k: {split: len(v) for split, v in rows[k].items()} for k in KINDS},
    }
    return Built(rows, manifest, sessions={"train": train, "eval": held})


def tokenize_sft(
    tokenizer: Any, rows: list[dict[str, Any]], max_length: int = 2048
) -> list[dict[str, Any]]:
    """Rows as token ids with their loss mask, windowed to `max_length` (`training.window`)."""
    from training.window import WindowStats, window_rows

    out = []
    for row in window_rows(tokenizer, rows, "sft", max_length, WindowStats()):
        ids, mask = render_with_mask(tokenizer, row["messages"], row["trainable"])
        out.append({"input_ids": ids, "assistant_masks": mask, "session_id": row["session_id"]})
    return out


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write(built: Built, folder: Path, tokenizer: Any | None = None, max_length: int = 2048) -> Path:
    """Write every kind and split as JSONL and as a `datasets` folder, then the manifest; all
    of it or, on any failure, nothing. Returns the folder (`folder`, or `folder-2`... if taken)."""
    from training.settings import TrainError

    name, n = folder.name, 1
    while folder.exists():  # two runs in the same second: never mix their files
        n += 1
        folder = folder.with_name(f"{name}-{n}")
    staging = folder.parent / f".tmp-{folder.name}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        private_folder(folder.parent)
        private_folder(staging)
        _write_into(built, staging, tokenizer, max_length)
        make_private(staging)
        staging.replace(folder)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, OSError):
            raise TrainError(
                f"cannot write the datasets to {folder}: {error.strerror or error}; nothing was "
                "written. Free some disk space (or fix the folder's permissions) and try again"
            ) from None
        raise
    built.folder = folder
    return folder


def _write_into(built: Built, folder: Path, tokenizer: Any | None, max_length: int) -> None:
    from datasets import Dataset

    hashes = {}
    for kind in KINDS:
        for split, rows in built.rows[kind].items():
            jsonl = folder / f"{kind}-{split}.jsonl"
            jsonl.write_text(
                "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
            )
            hashes[jsonl.name] = _hash(jsonl)
            tokenize = kind == "sft" and tokenizer
            records = tokenize_sft(tokenizer, rows, max_length) if tokenize else rows
            if records:
                Dataset.from_list(_flat(records)).save_to_disk(str(folder / kind / split))
    built.manifest["files"] = hashes
    (folder / "manifest.json").write_text(json.dumps(built.manifest, indent=2), encoding="utf-8")


def _flat(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Arrow wants one type per column: chat messages go in as JSON strings."""
    out = []
    for record in records:
        out.append(
            {
                k: json.dumps(v, ensure_ascii=False)
                if k in ("messages", "prompt") and not isinstance(v, str)
                else v
                for k, v in record.items()
            }
        )
    return out


def dry_run(built: Built, tokenizer: Any | None, max_length: int = 2048) -> str:
    """Counts, how many rows the context makes into windows, and one sample of each kind, the
    loss mask made visible."""
    from training.datasets import show_mask
    from training.window import WindowStats, window_rows

    counts = built.manifest["counts"]
    lines = [
        f"sessions: {len(built.sessions['train'])} for training, "
        f"{len(built.sessions['eval'])} held out for evaluation "
        f"({built.manifest.get('groups', '?')} groups of near-duplicates, each on one side)",
    ]
    for kind in KINDS:
        lines.append(
            f"{kind}: {counts[kind]['train']} train rows, {counts[kind]['eval']} eval rows"
        )
    if tokenizer is not None:
        for kind in KINDS:
            stats = WindowStats()
            for split in ("train", "eval"):
                window_rows(tokenizer, built.rows[kind][split], kind, max_length, stats)
            lines.append(f"context, {kind}: {stats.line(max_length)}")
    sft = built.rows["sft"]["train"] or built.rows["sft"]["eval"]
    if sft and tokenizer is not None:
        ids, mask = render_with_mask(tokenizer, sft[0]["messages"], sft[0]["trainable"])
        lines += [
            "",
            "one SFT row; the loss is on the text between ⟦ and ⟧ only:",
            show_mask(tokenizer, ids, mask),
        ]
    for kind in ("preference", "kto"):
        sample = built.rows[kind]["train"] or built.rows[kind]["eval"]
        if sample:
            row = sample[0]
            lines += ["", f"one {kind} row:"]
            if kind == "preference":
                lines += [
                    f"  ({row['kind']})",
                    "  chosen:   " + row["chosen"].replace("\n", "⏎"),
                    "  rejected: " + row["rejected"].replace("\n", "⏎"),
                ]
            else:
                lines += [
                    f"  label {'good' if row['label'] else 'bad'}: "
                    + row["completion"].replace("\n", "⏎")
                ]
    return "\n".join(lines)
