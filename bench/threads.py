"""The product's generation path (a worker thread, as the app runs it) against a plain
`model.generate` in one thread, on the embedded model, interleaved in one run.

The app loads the model in one thread and generates in others; torch's OpenMP teams are per
thread, so a worker can run slower than a single-threaded program doing the same work. This
prints tokens/s of each path for a few rounds, greedy and unconstrained so that both produce the
same tokens, and their ratio (target: >= 0.95). The plain baseline runs in a thread of its own:
on the 2-core development machine, under load, `generate` in the interpreter's main thread ran
at 0.4-1.3 tokens/s against 16-36 in any other thread, so a main-thread baseline measures that,
not the product (`plain_main` is printed too). Last line: one JSON object.

    python bench/threads.py [--precision 4bit|fp32] [--rounds 3] [--tokens 48]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.model.generate import Sampling, prompt_ids, start_generation  # noqa: E402
from core.model.loading import load_model  # noqa: E402

MESSAGES = [{"role": "user", "content": "Write a long story about a cat who learns Python."}]


def plain(model, tokenizer, tokens: int) -> float:
    import torch

    ids = torch.tensor([prompt_ids(tokenizer, MESSAGES)])
    started = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=tokens,
            min_new_tokens=tokens,
            do_sample=False,
        )
    return (out.shape[1] - ids.shape[1]) / (time.perf_counter() - started)


def product(model, tokenizer, tokens: int) -> float:
    sampling = Sampling(temperature=0.0, max_new_tokens=tokens)
    turn = start_generation(model, tokenizer, MESSAGES, sampling, constrained=False).result()
    return turn.stats.tokens_per_second


def in_thread(work):
    box: list = []
    thread = threading.Thread(target=lambda: box.append(work()))
    thread.start()
    thread.join()
    return box[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--precision", default="4bit", choices=("4bit", "bf16", "fp32"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=48)
    args = parser.parse_args()
    box: list = []
    # Loaded in its own thread, as the app loads it.
    loader = threading.Thread(
        target=lambda: box.append(load_model("smollm2", precision=args.precision))
    )
    loader.start()
    loader.join()
    loaded = box[0]
    plain(loaded.model, loaded.tokenizer, 4)  # warm-up
    rates: dict[str, list[float]] = {"plain": [], "product": [], "plain_main": []}
    model, tokenizer = loaded.model, loaded.tokenizer
    for round_ in range(args.rounds):
        rates["plain"].append(in_thread(lambda: plain(model, tokenizer, args.tokens)))
        rates["product"].append(product(model, tokenizer, args.tokens))
        rates["plain_main"].append(plain(model, tokenizer, args.tokens))
        print(
            f"round {round_ + 1}: plain generate {rates['plain'][-1]:.1f} tokens/s "
            f"(in the main thread {rates['plain_main'][-1]:.1f}), "
            f"product path (worker thread) {rates['product'][-1]:.1f} tokens/s"
        )
    figures = {name: statistics.median(values) for name, values in rates.items()}
    figures["ratio"] = figures["product"] / figures["plain"]
    figures["precision"] = args.precision
    figures["weights_mib"] = model.get_memory_footprint() / 2**20
    print(f"median: product/plain = {figures['ratio']:.2f} ({loaded.label})")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
