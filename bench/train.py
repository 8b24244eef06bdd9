"""Training benchmark: SFT speed and memory on the CPU, and Unsloth against PEFT + TRL on CUDA.

    python bench/train.py [--steps N] [--gpu-steps N] [--seq N]

1. The tiny demo model, SFT with LoRA through `training.trainer` on the CPU: tokens/s and the
   process's peak resident memory.
2. With a CUDA GPU: a ~1B-parameter Llama-shaped model with random weights (built locally, no
   download), 4-bit base + LoRA on all linear layers, once with Unsloth (when installed) and once
   with PEFT + bitsandbytes + TRL, each in its own process: tokens/s and peak GPU memory, side by
   side. Without CUDA this part is skipped with the reason printed.
Prints figures for people, then one JSON object of them as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rows(n: int, words: int) -> list[dict]:
    """SFT rows of about `words` words each, in the app's turn format."""
    body = " ".join(f"value{i % 97}" for i in range(words))
    return [
        {
            "session_id": f"bench{i}",
            "messages": [
                {"role": "user", "content": f"task {i}: {body[: len(body) // 3]}"},
                {
                    "role": "assistant",
                    "content": f"<thought>step {i}</thought>\n<code>print({body!r})</code>",
                },
            ],
            "trainable": [False, True],
        }
        for i in range(n)
    ]


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def sft_once(model_id: str, backend: str, steps: int, seq_words: int) -> dict:
    """One SFT run in this process; the figures as a dict."""
    import torch

    from training.settings import TrainConfig
    from training.trainer import add_lora, load_for_training, train_sft

    config = TrainConfig(
        max_steps=steps, batch_size=4, grad_accum=1, patience=0, lr=1e-4, max_length=4096
    )
    trainable = load_for_training(model_id, config, backend)
    model = add_lora(trainable, config)
    if trainable.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as work:
        result = train_sft(model, trainable, rows(4 * steps, seq_words), [], config, Path(work))
    figures = {
        "backend": backend,
        "device": trainable.device,
        "steps": result.steps,
        "tokens": result.tokens,
        "seconds": round(result.seconds, 3),
        "tokens_per_second": round(result.tokens_per_second, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
    if trainable.device == "cuda":
        figures["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return figures


def build_1b(folder: Path) -> str:
    """A Llama-shaped model of about 1B parameters with random weights, and a tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from core.model.tiny import TinySpec, build_tiny_model

    if (folder / "config.json").is_file():
        return str(folder)
    tokenizer = AutoTokenizer.from_pretrained(build_tiny_model(TinySpec()))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        max_position_embeddings=4096,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    del model
    torch.cuda.empty_cache()
    return str(folder)


def gpu_comparison(steps: int, seq_words: int) -> tuple[list[dict], str | None]:
    """Each backend in its own process (Unsloth patches transformers for good once imported)."""
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        return [], "no CUDA GPU: the Unsloth / PEFT comparison needs one"
    folder = Path(tempfile.gettempdir()) / "kyzel-bench-1b"
    model_id = build_1b(folder)
    backends = ["peft"]
    note = None
    if importlib.util.find_spec("unsloth") is not None:
        backends.insert(0, "unsloth")
    else:
        note = "unsloth is not installed (pip install kyzel-tui[gpu]): PEFT + TRL only"
    out = []
    for backend in backends:
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                backend,
                "--model",
                model_id,
                "--gpu-steps",
                str(steps),
                "--seq",
                str(seq_words),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            out.append({"backend": backend, "error": (done.stderr or "no output")[-400:]})
        else:
            out.append(json.loads(lines[-1]))
    return out, note


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="CPU SFT steps (default 20)")
    parser.add_argument("--gpu-steps", type=int, default=30, help="GPU SFT steps (default 30)")
    parser.add_argument("--seq", type=int, default=120, help="words per assistant turn")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one GPU run, for gpu_comparison
        print(json.dumps(sft_once(args.model, args.child, args.gpu_steps, args.seq)))
        return 0

    from core.model.tiny import TinySpec, build_tiny_model
    from training.trainer import quiet_datasets

    quiet_datasets()
    tiny = str(build_tiny_model(TinySpec()))
    cpu = sft_once(tiny, "peft", args.steps, args.seq)
    print(
        f"tiny model, SFT + LoRA on the {cpu['device'].upper()}: {cpu['tokens_per_second']:,.0f} "
        f"tokens/s ({cpu['tokens']:,} tokens in {cpu['steps']} steps, {cpu['seconds']:.1f} s); "
        f"peak RSS {cpu['peak_rss_mib']:,.0f} MiB"
    )
    gpu, note = gpu_comparison(args.gpu_steps, args.seq)
    if note:
        print(f"GPU comparison: {note}")
    for run in gpu:
        if "error" in run:
            print(f"  {run['backend']:8} failed: {run['error'].strip().splitlines()[-1]}")
        else:
            print(
                f"  {run['backend']:8} ~1B 4-bit + LoRA: {run['tokens_per_second']:,.0f} tokens/s, "
                f"peak GPU memory {run['peak_gpu_mib']:,.0f} MiB"
            )
    skipped = note if not gpu else None
    print(json.dumps({"cpu_tiny_sft": cpu, "gpu_1b_sft": gpu, "gpu_skipped": skipped}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
