"""How the turn grammar's costs are measured: per-token masks, compile times, cost with length.

Shared by `bench/constrain.py` for every tokenizer it measures. Matchers are driven two ways: by
random sampling among the allowed tokens (as a decode at high temperature would), and by
teacher-forcing realistic turns whose code bodies are stretches of the stdlib's own sources.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from _common import now, unpack

from grammars.constraint import Budget, TurnConstraint, budget_for
from grammars.turn import TurnFields, render

# Stdlib modules whose sources make the realistic turns; any that are missing are skipped.
SOURCES = (
    "argparse.py",
    "dataclasses.py",
    "textwrap.py",
    "statistics.py",
    "pathlib.py",
    "functools.py",
    "shutil.py",
    "json/decoder.py",
    "csv.py",
    "difflib.py",
    "fractions.py",
    "heapq.py",
)

# The naive check: is the text so far still a valid turn, up to somewhere in a code body?
NAIVE_PREFIX = re.compile(
    r"<thought>(?:(?!</thought>).)*</thought>\n<code>(?:(?!</code>).)*(?:</code>)?", re.S
)


class Grammar:
    """A freshly compiled `TurnConstraint` and the budget its matchers enforce."""

    def __init__(self, tokenizer: Any, budget: Budget):
        self.budget = budget
        self.constraint = TurnConstraint(tokenizer)
        self.vocab_size = self.constraint.vocab_size
        self.eos_token_id = self.constraint.eos_token_id

    def matcher(self) -> Any:
        return self.constraint.matcher(self.budget)


def stdlib_sources() -> list[tuple[str, str]]:
    """(name, source) of the stdlib modules in SOURCES; at least one, whatever is installed."""
    root = Path(sysconfig.get_paths()["stdlib"])
    found = [
        (name, (root / name).read_text(encoding="utf-8"))
        for name in SOURCES
        if (root / name).is_file()
    ]
    if not found:  # an unusual layout: take the first sources there are
        paths = sorted(root.glob("*.py"))[:8]
        found = [(p.name, p.read_text(encoding="utf-8", errors="replace")) for p in paths]
    return found


def thought_of(source: str) -> str:
    """Some prose to think with: the module docstring, or a stock sentence."""
    try:
        doc = ast.get_docstring(ast.parse(source)) or ""
    except SyntaxError:
        doc = ""
    doc = " ".join(doc.split())[:600] or "Let me look at how this module does it, then write code."
    return doc.replace("</thought>", "")


def realistic_turns(max_chars: int) -> list[str]:
    """Turn texts with a docstring as the thought and a stretch of stdlib code as the body."""
    turns = []
    for _, source in stdlib_sources():
        thought = thought_of(source)
        for start in range(0, len(source), max_chars):
            code = source[start : start + max_chars].replace("</code>", "")
            turns.append(render(TurnFields(thought, code=code)))
    return turns


# -- 1. per-token mask time ------------------------------------------------------------------


def mask_random(constraints: list[Grammar], steps: int, seed: int) -> dict[str, Any]:
    """Drive matchers like a decode: mask, unpack, sample uniformly among allowed, consume."""
    import numpy as np

    rng = np.random.default_rng(seed)
    times: list[float] = []
    cpu_times: list[float] = []  # this thread's CPU time: what the mask costs, without preemption
    unpack_times: list[float] = []
    forced_steps = turns = 0
    while len(times) < steps:
        constraint = constraints[turns % len(constraints)]
        matcher = constraint.matcher()
        turns += 1
        while True:
            started, cpu = now(), time.thread_time()
            forced, bitmask = matcher.allowed()
            times.append(now() - started)
            cpu_times.append(time.thread_time() - cpu)
            if forced is not None:
                token = forced
                forced_steps += 1
            else:
                started = now()
                allowed = np.flatnonzero(unpack(bitmask, constraint.vocab_size))
                token = int(allowed[rng.integers(len(allowed))])
                unpack_times.append(now() - started)
            if token == constraint.eos_token_id:
                break
            if not matcher.consume(token):
                raise RuntimeError(f"the grammar refused a token it allowed: {matcher.error()}")
    return {
        "times": times,
        "cpu_times": cpu_times,
        "unpack_times": unpack_times,
        "forced_steps": forced_steps,
        "turns": turns,
    }


def mask_forced(
    constraint: Grammar, tokenizer: Any, texts: list[str], steps: int
) -> dict[str, Any]:
    """Teacher-force realistic turn texts: mask at every step, then consume the text's token.

    A second pass over the same texts, with fresh matchers, times the two llguidance calls that
    `allowed()` makes (the forced-token check, then the bitmask) each on its own.
    """
    times: list[float] = []
    cpu_times: list[float] = []
    ff_times: list[float] = []
    bitmask_times: list[float] = []
    forced_steps = turns = 0
    chosen = []
    for text in texts:
        if len(times) >= steps:
            break
        ids = tokenizer.encode(text, add_special_tokens=False) + [constraint.eos_token_id]
        chosen.append(ids)
        matcher = constraint.matcher()
        turns += 1
        for token in ids:
            started, cpu = now(), time.thread_time()
            forced, _ = matcher.allowed()
            times.append(now() - started)
            cpu_times.append(time.thread_time() - cpu)
            forced_steps += forced is not None
            if token == constraint.eos_token_id:
                if not matcher.accepts_end():
                    raise RuntimeError("a realistic turn was not accepted at its end")
                break
            if not matcher.consume(token):
                raise RuntimeError(f"a realistic turn was refused: {matcher.error()}")
    for ids in chosen:
        matcher = constraint.matcher()
        raw = matcher._matcher  # the llguidance matcher inside
        for token in ids[:-1]:
            started = now()
            ff = raw.compute_ff_tokens()
            ff_times.append(now() - started)
            if not ff and not raw.is_accepting():
                started = now()
                raw.compute_bitmask()
                bitmask_times.append(now() - started)
            matcher.consume(token)
    return {
        "times": times,
        "cpu_times": cpu_times,
        "ff_times": ff_times,
        "bitmask_times": bitmask_times,
        "forced_steps": forced_steps,
        "turns": turns,
    }


# -- 2. compile time -------------------------------------------------------------------------


def cold_child(source: str) -> None:
    """In a fresh process: what the first constrained generation pays before its first token.

    `source` is a model as `core.model.loading` names it, or a folder holding only a tokenizer.
    """
    if Path(source).is_dir() and not (Path(source) / "config.json").is_file():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    else:
        from core.model.loading import load_tokenizer

        tokenizer = load_tokenizer(source)[1]
    budget = budget_for(tokenizer, 1024)
    started = now()
    import llguidance  # noqa: F401
    import llguidance.hf  # noqa: F401

    imported = now()
    constraint = Grammar(tokenizer, budget)
    compiled = now()
    matcher = constraint.matcher()
    made = now()
    matcher.allowed()
    masked = now()
    print(
        json.dumps(
            {
                "import_s": imported - started,
                "constraint_s": compiled - imported,
                "matcher_s": made - compiled,
                "first_mask_s": masked - made,
                "total_s": masked - started,
            }
        )
    )


def compile_cold(source: str, runs: int) -> list[dict[str, float]]:
    results = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("constrain.py")), "--cold-child", source],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results


def compile_warm(tokenizer: Any, runs: int) -> dict[str, list[float]]:
    """New budgets with the tokenizer view cached: TurnConstraint, first matcher, first mask."""
    constraint_s, matcher_s, mask_s, total_s = [], [], [], []
    for k in range(runs):
        budget = Budget(thought=300 + 7 * k, body=700 + 13 * k)  # a budget not seen before
        started = now()
        constraint = Grammar(tokenizer, budget)
        compiled = now()
        matcher = constraint.matcher()
        made = now()
        matcher.allowed()
        masked = now()
        constraint_s.append(compiled - started)
        matcher_s.append(made - compiled)
        mask_s.append(masked - made)
        total_s.append(masked - started)
    return {"constraint": constraint_s, "matcher": matcher_s, "mask": mask_s, "total": total_s}


def view_build(tokenizer: Any, runs: int) -> list[float]:
    import llguidance.hf

    times = []
    for _ in range(runs):
        started = now()
        llguidance.hf.from_tokenizer(tokenizer)
        times.append(now() - started)
    return times


def matcher_creation(constraint: Grammar, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = now()
        constraint.matcher()
        times.append(now() - started)
    return times


# -- 4. per-token cost with length -----------------------------------------------------------


def long_bodies(tokenizer: Any, count: int, body_tokens: int) -> list[tuple[str, str]]:
    """(thought, code) pairs whose code is `body_tokens` tokens of stdlib source and a little."""
    sources = stdlib_sources()
    pairs = []
    for i in range(count):
        name, code = sources[i % len(sources)]
        j = i
        while len(code) < 8 * body_tokens:  # the tokenizer's tokens are shorter than 8 chars
            j += 1
            code += "\n\n" + sources[j % len(sources)][1]
        code = code[: 8 * body_tokens].replace("</code>", "")
        encoded = tokenizer(code, add_special_tokens=False, return_offsets_mapping=True)
        spans = encoded["offset_mapping"]
        if len(spans) > body_tokens + 64:
            code = code[: spans[body_tokens + 64][0]]
        pairs.append((f"I will adapt {name} for this; here is the whole module.", code))
    return pairs


def cost_with_length(
    tokenizer: Any, constraint: Grammar, pairs: list[tuple[str, str]], windows: list[int]
) -> dict[str, Any]:
    """Per-token cost of the grammar (mask + consume) and of the naive baseline, per window.

    `windows` are starting body positions; each window is 256 tokens long.
    """
    width = 256
    end = max(windows) + width
    grammar: dict[int, list[float]] = {w: [] for w in windows}
    naive: dict[int, list[float]] = {w: [] for w in windows}
    for thought, code in pairs:
        text = render(TurnFields(thought, code=code))
        head = len(text) - len(code) - len("</code>")
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = encoded["input_ids"]
        body_start = next(i for i, (s, _) in enumerate(encoded["offset_mapping"]) if s >= head)
        if len(ids) < body_start + end:
            raise RuntimeError("a long body came out shorter than planned")
        matcher = constraint.matcher()
        step_s = []
        for token in ids[: body_start + end]:
            started = now()
            matcher.allowed()
            if not matcher.consume(token):
                raise RuntimeError(f"a long body was refused: {matcher.error()}")
            step_s.append(now() - started)
        for w in windows:
            grammar[w] += step_s[body_start + w : body_start + w + width]
            # The naive way: decode everything so far, then check it all again.
            for n in range(body_start + w, body_start + w + width):
                started = now()
                so_far = tokenizer.decode(ids[: n + 1])
                ok = NAIVE_PREFIX.fullmatch(so_far) is not None
                naive[w].append(now() - started)
                if not ok:
                    raise RuntimeError("the naive check refused a valid prefix")
    return {"grammar": grammar, "naive": naive}
