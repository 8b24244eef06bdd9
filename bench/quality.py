"""Turn quality benchmark: what a real model does with the product's prompt and grammar.

    python bench/quality.py [--model NAME_OR_PATH] [--adapter PATH] [--precision P] [--limit N]

For each of the fixed prompts of `bench/quality_prompts.json` (coding tasks and pure questions),
rendered as a one-message session by `core.chat` (the rendering of the app and of training), the
model writes one turn through the product's generation path (`core.model.generate`, grammar
on) and one reply without the grammar. Reported:

- parses without the grammar: share of unconstrained replies that are one well-formed turn;
- code compiles: share of constrained code bodies that compile (after IPython's own transforms
  of `!cmd` and `%magic` lines, as the kernel would run them);
- questions answered: share of pure questions whose constrained turn is an `<answer>` (and, next
  to it, the share of tasks answered with `<code>`, so that a prompt cannot win by answering all);
- copies of the prompt: share of turns holding a run of 6 words (letters, digits, `_`; case
  ignored; not across the turn's tags) that is in the prompt (the system message and the example
  exchanges: everything the model is shown before the user's message) and not in the user's
  message;
- the choice: at `</thought>\\n<`, with the turn's own thought, the probability that the model picks
  `answer` over `code` (the two tokens the grammar allows there, temperature 1), median.

With `--adapter`, every prompt runs on the base model (adapter disabled) and with the adapter, in
the same process. Targets (how often a turn goes wrong): at most 1 in 30 turns copies the prompt; at
least 2/3 of pure questions get `<answer>`. Prints figures for people, then one JSON object as the
last line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import (  # noqa: E402
    compiles,
    json_figures,
    load_bench_model,
    now,
    quiet,
    say,
    verdict,
)

from core.chat import path_messages  # noqa: E402
from core.events import Event, UserMessage  # noqa: E402
from core.model.generate import Sampling, prompt_ids, start_generation  # noqa: E402
from grammars.turn import ANSWER, CODE, THOUGHT, TurnParseError, parse  # noqa: E402

PROMPTS = Path(__file__).with_name("quality_prompts.json")
COPY_WORDS = 6
TARGET_COPY_SHARE = 1 / 30
TARGET_ANSWER_SHARE = 2 / 3


def load_prompts(limit: int | None) -> list[dict[str, str]]:
    prompts = json.loads(PROMPTS.read_text(encoding="utf-8"))["prompts"]
    if limit is not None:  # keep both kinds in a short run: alternate tasks and questions
        tasks = [p for p in prompts if p["kind"] == "task"]
        questions = [p for p in prompts if p["kind"] == "question"]
        mixed = [p for pair in zip(tasks, questions, strict=False) for p in pair]
        prompts = mixed[:limit]
    return prompts


def messages_for(text: str) -> list[dict[str, str]]:
    """The chat the app sends for a new session's first message."""
    return path_messages([Event("E0", "bench", None, UserMessage(text), 0.0)])


TAG = re.compile(r"</?(?:thought|code|answer|result)>")


def segments(text: str) -> list[list[str]]:
    """The words of each stretch of text between the turn's tags (tags are structure, not copy)."""
    return [re.findall(r"\w+", part.lower()) for part in TAG.split(text)]


def runs(text: str, n: int = COPY_WORDS) -> set[tuple[str, ...]]:
    return {tuple(w[i : i + n]) for w in segments(text) for i in range(len(w) - n + 1)}


def copied(turn: str, messages: list[dict[str, str]]) -> str | None:
    """The first run of words the turn takes from the prompt and not from the user, or None."""
    prompt = "\n".join(m["content"] for m in messages[:-1])
    foreign = runs(prompt) - runs(messages[-1]["content"])
    for w in segments(turn):
        for i in range(len(w) - COPY_WORDS + 1):
            if tuple(w[i : i + COPY_WORDS]) in foreign:
                return " ".join(w[i : i + COPY_WORDS])
    return None


def answer_share_at_choice(model: Any, tokenizer: Any, messages: list, thought: str) -> float:
    """P(answer) / (P(answer) + P(code)) where the grammar lets the model choose, temperature 1."""
    import torch

    prefix = THOUGHT[0] + thought + THOUGHT[1] + "\n<"
    ids = prompt_ids(tokenizer, messages) + tokenizer.encode(prefix, add_special_tokens=False)
    code, answer = (
        tokenizer.encode(t[1:], add_special_tokens=False)[0] for t in (CODE[0], ANSWER[0])
    )
    with torch.inference_mode():
        logits = model(torch.tensor([ids], device=model.device)).logits[0, -1].float()
    probs = logits.softmax(-1)
    return float(probs[answer] / (probs[answer] + probs[code]))


def one_prompt(model: Any, tokenizer: Any, prompt: dict, seed: int, tokens: int) -> dict:
    messages = messages_for(prompt["text"])
    sampling = Sampling(max_new_tokens=tokens, seed=seed)
    turn = start_generation(model, tokenizer, messages, sampling).result()
    free = start_generation(model, tokenizer, messages, sampling, constrained=False).result()
    fields = turn.fields
    row: dict[str, Any] = {"kind": prompt["kind"], "text": prompt["text"], "raw": turn.raw}
    row["choice"] = None if fields is None else ("code" if fields.code is not None else "answer")
    row["compiles"] = compiles(fields.code) if fields and fields.code is not None else None
    row["copy"] = copied(turn.raw, messages)
    row["free_raw"] = free.raw
    try:
        parse(free.raw.strip())
        row["free_parses"] = True
    except TurnParseError:
        row["free_parses"] = False
    row["free_copy"] = copied(free.raw, messages)
    row["p_answer"] = (
        answer_share_at_choice(model, tokenizer, messages, fields.thought) if fields else None
    )
    row["tokens"] = turn.stats.output_tokens + free.stats.output_tokens
    return row


def share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def summary(rows: list[dict]) -> dict[str, Any]:
    questions = [r for r in rows if r["kind"] == "question"]
    tasks = [r for r in rows if r["kind"] == "task"]
    p_answer = [r["p_answer"] for r in rows if r["p_answer"] is not None]
    p_question = [r["p_answer"] for r in questions if r["p_answer"] is not None]
    p_task = [r["p_answer"] for r in tasks if r["p_answer"] is not None]
    return {
        "turns": len(rows),
        "parses_without_grammar": share([r["free_parses"] for r in rows]),
        "code_compiles": share([r["compiles"] for r in rows if r["compiles"] is not None]),
        "code_turns": sum(r["choice"] == "code" for r in rows),
        "questions_answered": share([r["choice"] == "answer" for r in questions]),
        "tasks_with_code": share([r["choice"] == "code" for r in tasks]),
        "copies": share([r["copy"] is not None for r in rows]),
        "copies_without_grammar": share([r["free_copy"] is not None for r in rows]),
        "p_answer_median": statistics.median(p_answer) if p_answer else None,
        "p_answer_median_questions": statistics.median(p_question) if p_question else None,
        "p_answer_median_tasks": statistics.median(p_task) if p_task else None,
    }


def show_row(index: int, row: dict) -> None:
    p = "-" if row["p_answer"] is None else f"{row['p_answer']:.0%}"
    compiled = {None: "", True: ", compiles", False: ", does not compile"}[row["compiles"]]
    copy = f', COPIES "{row["copy"]}"' if row["copy"] else ""
    free = "parses" if row["free_parses"] else "does not parse"
    say(
        f"{index:2d} {row['kind']:8s} {row['choice'] or 'none':6s} P(answer) {p:>4s}{compiled}"
        f"{copy}; without grammar {free}  | {row['text'][:60]}"
    )


def show_summary(name: str, s: dict) -> None:
    def p(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    say(f"{name}: {s['turns']} turns")
    say(f"  parse without the grammar:         {p(s['parses_without_grammar'])}")
    say(f"  code bodies that compile:          {p(s['code_compiles'])} of {s['code_turns']}")
    answered = s["questions_answered"]
    say(
        f"  questions answered with <answer>:  {p(answered)} (target >= "
        f"{TARGET_ANSWER_SHARE:.0%}: {verdict((answered or 0) >= TARGET_ANSWER_SHARE)}"
        f"); tasks given <code>: {p(s['tasks_with_code'])}"
    )
    say(
        f"  turns copying the prompt:          {p(s['copies'])} (target <= 1 in 30: "
        f"{verdict(s['copies'] <= TARGET_COPY_SHARE)}); without the grammar "
        f"{p(s['copies_without_grammar'])}"
    )
    say(
        f"  P(answer) at the code/answer choice, median: {p(s['p_answer_median'])} (questions "
        f"{p(s['p_answer_median_questions'])}, tasks {p(s['p_answer_median_tasks'])})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="name, hub id or folder")
    parser.add_argument("--adapter", help="a LoRA adapter folder: run with and without it")
    parser.add_argument("--precision", help="4bit, bf16 or fp32 (default: the product's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--limit", type=int, help="only the first N prompts (tasks and questions)")
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--show", action="store_true", help="print every turn's text")
    args = parser.parse_args()
    quiet()
    import torch

    torch.manual_seed(0)
    started = now()
    loaded = load_bench_model(args.model, args.precision, args.adapter, args.device)
    say(f"model: {loaded.label}, loaded in {now() - started:.1f} s")
    prompts = load_prompts(args.limit)
    passes = [("base", contextlib.nullcontext)]
    if args.adapter:
        passes = [("base", loaded.model.disable_adapter), ("adapter", contextlib.nullcontext)]
    figures: dict[str, Any] = {"model": loaded.label, "max_new_tokens": args.max_new_tokens}
    for name, context in passes:
        rows, started = [], now()
        say()
        with context():
            for index, prompt in enumerate(prompts):
                rows.append(
                    one_prompt(
                        loaded.model, loaded.tokenizer, prompt, 1000 + index, args.max_new_tokens
                    )
                )
                show_row(index, rows[-1])
                if args.show:
                    say(f"   turn: {rows[-1]['raw']!r}\n   free: {rows[-1]['free_raw']!r}")
        seconds = now() - started
        s = summary(rows)
        s["seconds"] = seconds
        s["tokens_per_second"] = sum(r["tokens"] for r in rows) / seconds
        say()
        show_summary(name, s)
        say(f"  {seconds:.0f} s, {s['tokens_per_second']:.1f} generated tokens/s")
        figures[name] = s
    print(json.dumps(json_figures(figures)))


if __name__ == "__main__":
    main()
