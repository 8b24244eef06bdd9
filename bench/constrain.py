"""Constraint benchmark: what the turn grammar costs on real tokenizers and real models.

    python bench/constrain.py [--quick] [--model NAME_OR_PATH] [--gemma FOLDER] [--tiny]
                              [--precisions fp32,4bit]

Measured for each tokenizer: SmolLM2 (49k tokens; `--model`, default the embedded "smollm2", loaded
through `core.model.loading`), Gemma 3 (262k tokens; `--gemma`, a folder holding its tokenizer)
and, with `--tiny`, the 32k-token tokenizer of the tiny test model (built once and cached):

1. per-token mask time (`TurnMatcher.allowed()`: forced-token check and bitmask), p50, p99 and
   max, driving matchers by random sampling among the allowed tokens and by teacher-forcing
   realistic turns (code bodies from the stdlib); wall time, and the p99 of this thread's CPU
   time, which leaves out the waits of a busy machine (the target is judged on wall time);
2. grammar preparation: cold (a fresh process: importing llguidance, building its view of the
   tokenizer, the grammar, the first matcher and mask) and warm (a new budget, the view cached);
3. on the first tokenizer, the grammar's per-token cost (mask + consume) at the start of a
   2048-token code body and deep into it, next to a naive decode-and-regex check.

Then, on the model, for each precision: constrained and unconstrained generations through the
product's path (`core.model.generate.start_generation`, worker thread), interleaved, in
tokens/s; and
the product's path against a plain `model.generate` in this thread on the same prompts (greedy,
so both write the same tokens), interleaved. Last, the grammar as an Outlines output type.

Targets (the cost of constrained decoding): mask p99 <= 1 ms on every tokenizer, 262k included; warm
preparation <= 50 ms; constrained / unconstrained tokens/s >= 0.95; product path / plain generate >=
0.95; per-token cost flat with length (<= x1.25 from 256 to 2048 tokens). Prints figures for people,
then one JSON object of them as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import json_figures, load_bench_model, now, pct, quiet, say, verdict  # noqa: E402
from _grammar_cost import (  # noqa: E402
    Grammar,
    cold_child,
    compile_cold,
    compile_warm,
    cost_with_length,
    long_bodies,
    mask_forced,
    mask_random,
    realistic_turns,
    view_build,
)

from grammars.constraint import Budget, budget_for  # noqa: E402

TARGET_MASK_P99_US = 1000.0
TARGET_WARM_COMPILE_MS = 50.0
TARGET_TPS_RATIO = 0.95
TARGET_GROWTH = 1.25

MESSAGES = (
    "Read data.csv and plot the second column against the first.",
    "Find the ten largest files under the current directory.",
    "What is the difference between a list and a tuple?",
)


# -- 1 and 2: per tokenizer -----------------------------------------------------------------


def grammar_figures(name: str, tokenizer: Any, source: str, quick: bool, seed: int) -> dict:
    """Preparation and mask times of the turn grammar on one tokenizer; prints them."""
    figures: dict[str, Any] = {"vocab_size": len(tokenizer)}
    started = now()
    first = Grammar(tokenizer, budget_for(tokenizer, 1024))
    first.matcher().allowed()
    figures["prepare_in_process_ms"] = (now() - started) * 1e3
    cold = compile_cold(source, 1 if quick else 3)
    warm = compile_warm(tokenizer, 10 if quick else 30)
    views = view_build(tokenizer, 1 if quick else 3)
    figures.update(
        prepare_cold_ms=statistics.median(r["total_s"] for r in cold) * 1e3,
        prepare_cold_import_ms=statistics.median(r["import_s"] for r in cold) * 1e3,
        prepare_cold_constraint_ms=statistics.median(r["constraint_s"] for r in cold) * 1e3,
        tokenizer_view_ms=statistics.median(views) * 1e3,
        prepare_warm_ms=statistics.median(warm["total"]) * 1e3,
        prepare_warm_max_ms=max(warm["total"]) * 1e3,
    )
    steps = 1500 if quick else 6000
    grammars = [Grammar(tokenizer, budget_for(tokenizer, n)) for n in (256, 1024)]
    sampled = mask_random(grammars, steps, seed)
    turns = realistic_turns(1500 if quick else 3000)
    forced = mask_forced(Grammar(tokenizer, Budget(1024, 4096)), tokenizer, turns, steps)
    for kind, run in (("sampled", sampled), ("forced", forced)):
        times = run["times"]
        figures[f"mask_{kind}_steps"] = len(times)
        figures[f"mask_{kind}_p50_us"] = pct(times, 50) * 1e6
        figures[f"mask_{kind}_p99_us"] = pct(times, 99) * 1e6
        figures[f"mask_{kind}_max_us"] = max(times) * 1e6
        figures[f"mask_{kind}_cpu_p99_us"] = pct(run["cpu_times"], 99) * 1e6
        figures[f"mask_{kind}_forced_share"] = run["forced_steps"] / len(times)
    figures["bitmask_p50_us"] = pct(forced["bitmask_times"], 50) * 1e6
    figures["unpack_sample_p50_us"] = pct(sampled["unpack_times"], 50) * 1e6
    p99 = max(figures["mask_sampled_p99_us"], figures["mask_forced_p99_us"])
    figures["met_mask_p99"] = p99 <= TARGET_MASK_P99_US
    figures["met_prepare_warm"] = figures["prepare_warm_ms"] <= TARGET_WARM_COMPILE_MS

    say()
    say(f"{name} ({figures['vocab_size']} tokens)")
    say(
        f"  preparation, cold (fresh process, median of {len(cold)}): "
        f"{figures['prepare_cold_ms']:.0f} ms = import llguidance "
        f"{figures['prepare_cold_import_ms']:.0f} + tokenizer view and grammar "
        f"{figures['prepare_cold_constraint_ms']:.0f} + first matcher and mask; the view alone "
        f"{figures['tokenizer_view_ms']:.0f} ms"
    )
    say(
        f"  preparation, warm (new budget, view cached, to the first mask): "
        f"{figures['prepare_warm_ms']:.2f} ms median, max {figures['prepare_warm_max_ms']:.2f} "
        f"(target <= {TARGET_WARM_COMPILE_MS:.0f} ms: {verdict(figures['met_prepare_warm'])})"
    )
    for kind, what in (("sampled", "random sampling"), ("forced", "teacher-forced stdlib code")):
        say(
            f"  mask per token, {what} ({figures[f'mask_{kind}_steps']} steps, "
            f"{figures[f'mask_{kind}_forced_share']:.0%} forced): p50 "
            f"{figures[f'mask_{kind}_p50_us']:.1f} us, p99 {figures[f'mask_{kind}_p99_us']:.1f} "
            f"us, max {figures[f'mask_{kind}_max_us']:.0f} us; in CPU time (no preemption) p99 "
            f"{figures[f'mask_{kind}_cpu_p99_us']:.1f} us"
        )
    say(
        f"  p99 target <= {TARGET_MASK_P99_US:.0f} us: {verdict(figures['met_mask_p99'])}; "
        f"compute_bitmask alone p50 {figures['bitmask_p50_us']:.1f} us, numpy unpack + sample "
        f"{figures['unpack_sample_p50_us']:.1f} us"
    )
    return figures


def length_figures(tokenizer: Any, quick: bool) -> dict:
    """Per-token cost at the start of a long code body and deep into it; prints it."""
    pairs = long_bodies(tokenizer, 1 if quick else 3, 2048)
    costs = cost_with_length(tokenizer, Grammar(tokenizer, Budget(256, 4096)), pairs, [0, 1792])
    figures: dict[str, Any] = {}
    for method in ("grammar", "naive"):
        early = statistics.median(costs[method][0]) * 1e6
        late = statistics.median(costs[method][1792]) * 1e6
        figures[f"{method}_us_per_token_at_256"] = early
        figures[f"{method}_us_per_token_at_2048"] = late
        figures[f"{method}_growth"] = late / early
    figures["met_flat"] = figures["grammar_growth"] <= TARGET_GROWTH
    say(
        f"  per-token cost with length (mask + consume, body tokens 0-256 vs 1792-2048): "
        f"{figures['grammar_us_per_token_at_256']:.1f} -> "
        f"{figures['grammar_us_per_token_at_2048']:.1f} us, x{figures['grammar_growth']:.2f} "
        f"(target <= x{TARGET_GROWTH}: {verdict(figures['met_flat'])}); naive decode + regex "
        f"{figures['naive_us_per_token_at_256']:.0f} -> "
        f"{figures['naive_us_per_token_at_2048']:.0f} us"
    )
    return figures


# -- generation on the model ----------------------------------------------------------------


def _product(model: Any, tokenizer: Any, text: str, tokens: int, **how: Any) -> tuple[int, float]:
    """(new tokens, seconds) of one generation through `core.model.generate`."""
    from core.chat import path_messages
    from core.events import Event, UserMessage
    from core.model.generate import Sampling, start_generation

    messages = path_messages([Event("E0", "bench", None, UserMessage(text), 0.0)])
    sampling = Sampling(max_new_tokens=tokens, **how.get("sampling", {}))
    turn = start_generation(
        model, tokenizer, messages, sampling, constrained=how["constrained"]
    ).result()
    return turn.stats.output_tokens, turn.stats.seconds


def _plain(model: Any, tokenizer: Any, text: str, tokens: int) -> tuple[int, float]:
    """(new tokens, seconds) of a plain greedy `model.generate` in this thread, same prompt."""
    import torch

    from core.chat import path_messages
    from core.events import Event, UserMessage
    from core.model.generate import prompt_ids

    messages = path_messages([Event("E0", "bench", None, UserMessage(text), 0.0)])
    ids = torch.tensor([prompt_ids(tokenizer, messages)], device=model.device)
    started = now()
    with torch.inference_mode():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=tokens,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
        )
    return out.shape[1] - ids.shape[1], now() - started


def generation_figures(model: Any, tokenizer: Any, runs: int, tokens: int) -> dict:
    """Tokens/s, interleaved pairs: constrained vs unconstrained, product path vs plain."""
    greedy = {"temperature": 0.0}
    sampled = {"temperature": 1.0}
    variants = {
        "constrained": lambda t, s: _product(
            model, tokenizer, t, tokens, constrained=True, sampling={**sampled, "seed": s}
        ),
        "unconstrained": lambda t, s: _product(
            model, tokenizer, t, tokens, constrained=False, sampling={**sampled, "seed": s}
        ),
        "product": lambda t, s: _product(
            model, tokenizer, t, tokens, constrained=False, sampling=greedy
        ),
        "plain": lambda t, s: _plain(model, tokenizer, t, tokens),
    }
    for name in variants:  # warm-up: first-call costs of generate, the grammar compiled
        variants[name](MESSAGES[0], 0)
    done: dict[str, list[tuple[int, float]]] = {name: [] for name in variants}
    for run in range(runs):
        text = MESSAGES[run % len(MESSAGES)]
        for pair in (("constrained", "unconstrained"), ("product", "plain")):
            # Alternate which goes first, so that drift in the machine's speed hits both alike.
            for name in pair if run % 2 == 0 else pair[::-1]:
                done[name].append(variants[name](text, 1000 + run))
    figures: dict[str, Any] = {}
    for name, rows in done.items():
        figures[f"{name}_tps"] = sum(n for n, _ in rows) / sum(s for _, s in rows)
        figures[f"{name}_tokens"] = statistics.median(n for n, _ in rows)
    figures["constrained_ratio"] = figures["constrained_tps"] / figures["unconstrained_tps"]
    figures["product_ratio"] = figures["product_tps"] / figures["plain_tps"]
    figures["met_constrained_ratio"] = figures["constrained_ratio"] >= TARGET_TPS_RATIO
    figures["met_product_ratio"] = figures["product_ratio"] >= TARGET_TPS_RATIO
    return figures


def model_figures(name: str, precision: str, runs: int, tokens: int) -> tuple[dict, Any]:
    import torch

    started = now()
    loaded = load_bench_model(name, precision)
    figures: dict[str, Any] = {"label": loaded.label, "load_s": now() - started}
    figures["memory_mb"] = loaded.model.get_memory_footprint() / 1e6
    figures["torch_threads"] = torch.get_num_threads()
    figures.update(generation_figures(loaded.model, loaded.tokenizer, runs, tokens))
    say()
    say(
        f"{loaded.label}: loaded in {figures['load_s']:.1f} s, weights "
        f"{figures['memory_mb']:.0f} MB; {runs} interleaved pairs of up to {tokens} tokens"
    )
    say(
        f"  constrained {figures['constrained_tps']:.1f} tok/s ({figures['constrained_tokens']:.0f}"
        f" tokens), unconstrained {figures['unconstrained_tps']:.1f} tok/s "
        f"({figures['unconstrained_tokens']:.0f}): ratio {figures['constrained_ratio']:.3f} "
        f"(target >= {TARGET_TPS_RATIO}: {verdict(figures['met_constrained_ratio'])})"
    )
    say(
        f"  product path (worker thread, greedy) {figures['product_tps']:.1f} tok/s, plain "
        f"model.generate {figures['plain_tps']:.1f} tok/s: ratio {figures['product_ratio']:.3f} "
        f"(target >= {TARGET_TPS_RATIO}: {verdict(figures['met_product_ratio'])})"
    )
    return figures, loaded


def outlines_figures(model: Any, tokenizer: Any) -> dict:
    """Build the turn grammar as an Outlines output type, llguidance backend; or say why not."""
    try:
        import outlines

        from grammars.constraint import outlines_type

        wrapped = outlines.from_transformers(model, tokenizer)
        started = now()
        outlines.Generator(wrapped, outlines_type(), backend="llguidance")
        figures = {"outlines_build_ms": (now() - started) * 1e3}
        built = figures["outlines_build_ms"]
        say(f"Outlines (CFG output type, llguidance): built in {built:.0f} ms")
    except Exception as error:  # any failure here is reported, never fatal
        figures = {"outlines_skipped": f"{type(error).__name__}: {error}".splitlines()[0][:300]}
        say(f"Outlines (CFG output type, llguidance): skipped: {figures['outlines_skipped']}")
    return figures


# -- main ------------------------------------------------------------------------------------


def tokenizers_to_measure(args: argparse.Namespace) -> list[tuple[str, str, Any, str]]:
    """(key, name, tokenizer, source for a fresh process) of every tokenizer asked for."""
    from core.model.loading import load_tokenizer

    found = []
    if args.tiny:
        from core.model.tiny import TinySpec, build_tiny_model

        spec = TinySpec(vocab_size=32768, corpus_bytes=24_000_000)
        folder = str(build_tiny_model(spec))
        found.append(("tiny", "tiny test tokenizer", load_tokenizer(folder)[1], folder))
    found.append(("model", f"model {args.model}", load_tokenizer(args.model)[1], args.model))
    if args.gemma:
        from transformers import AutoTokenizer

        if not Path(args.gemma).is_dir():
            raise SystemExit(
                f"--gemma {args.gemma}: not a folder; pass a folder with its tokenizer"
            )
        tokenizer = AutoTokenizer.from_pretrained(args.gemma, local_files_only=True)
        found.append(("gemma", "Gemma 3", tokenizer, args.gemma))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and runs")
    parser.add_argument("--model", default="smollm2", help="name, hub id or folder")
    parser.add_argument("--gemma", help="a folder with Gemma 3's tokenizer (262k tokens)")
    parser.add_argument("--tiny", action="store_true", help="also the tiny test tokenizer (32k)")
    parser.add_argument("--precisions", default="fp32,4bit", help="comma-separated, or ''")
    parser.add_argument("--tokens", type=int, default=128, help="new tokens per generation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--generation-only", action="store_true", help="skip the per-tokenizer grammar figures"
    )
    parser.add_argument("--cold-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold_child:
        cold_child(args.cold_child)
        return
    quiet()
    figures: dict[str, Any] = {"quick": args.quick, "load_average_start": os.getloadavg()[0]}
    tokenizers = [] if args.generation_only else tokenizers_to_measure(args)
    for key, name, tokenizer, source in tokenizers:
        figures[key] = grammar_figures(name, tokenizer, source, args.quick, args.seed)
        if key == "model":
            figures[key].update(length_figures(tokenizer, args.quick))
    loaded = None
    for precision in filter(None, args.precisions.split(",")):
        runs = 4 if args.quick else 9
        figures[precision], loaded = model_figures(args.model, precision, runs, args.tokens)
    if loaded is not None:
        say()
        figures.update(outlines_figures(loaded.model, loaded.tokenizer))
    met = {
        f"{key}_{name[4:]}": value
        for key, part in figures.items()
        if isinstance(part, dict)
        for name, value in part.items()
        if name.startswith("met_")
    }
    figures["load_average_end"] = os.getloadavg()[0]
    figures["targets_met"] = met
    say()
    say(
        f"load average (1 min) at start {figures['load_average_start']:.2f}, at end "
        f"{figures['load_average_end']:.2f}, on {os.cpu_count()} CPUs: timings are noisier above"
    )
    say(
        f"targets met: {sum(met.values())}/{len(met)}"
        + "".join(f"\n  NOT met: {k}" for k, v in met.items() if not v)
    )
    print(json.dumps(json_figures(figures)))


if __name__ == "__main__":
    main()
