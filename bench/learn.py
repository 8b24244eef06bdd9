"""Learning benchmark: does training on the shipped sessions make the real model better?

    python bench/learn.py [--model smollm2|FOLDER] [--max-steps N] [--epochs N] [--prompts FILE]
                          [--mixed-precision auto|bf16|no] [--save FOLDER]
                          [--checkpointing SHARE] [--lora-dropout P] [--preference]

On the CPU, LoRA on the float32 base unless `--qlora`, its forward passes in bf16 where the CPU's
bf16 products are faster (`--mixed-precision`, as `kyzel-tui --train`); on CUDA the base is 4-bit,
QLoRA. `--save` keeps the adapter, for `bench/quality.py --adapter`. QLoRA does run on the CPU with
bitsandbytes 0.50 (forward and backward through its Linear4bit layers, without its optional
`kernels` CPU kernels): a 128-token SmolLM2 training step took 6.8 s on the 4-bit base against 8.9
s on float32 (one thread each, interleaved in one process), so `--qlora` costs no speed and holds
the base in a quarter of the memory; `kyzel-tui --train` still trains the float32 base on the CPU.
The shipped sessions of data/sessions are split by groups of near-duplicate sessions
(`training.split`), SFT trains a LoRA (then DPO, or KTO, with `--preference`, as `--set
preference=true` does in the product), and the held-out sessions are measured before and after:
masked loss on kept turns; on held-out pairs, preference accuracy per token, the summed margin and
(after) DPO's reward accuracy against the base (`training.evaluate`). On the fixed prompts of
bench/quality_prompts.json (when present; `--prompts` names another) each turn, decoded greedily
without the grammar, is checked: well-formed, code that compiles, questions answered with <answer>.
Also wall time, training tokens/s beside the machine's rough limit (≈ 6 × parameters FLOPs per
token at the measured matmul speed), peak resident memory, and decode speed with the adapter
unmerged and merged.
Figures for people, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
PROMPTS = ROOT / "bench" / "quality_prompts.json"

from _common import compiles  # noqa: E402


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def say(text: str) -> None:
    print(text, flush=True)


def quality(model, tokenizer, prompts: list[dict], max_new_tokens: int) -> dict:
    """Shares over the fixed prompts, decoded greedily without the grammar. A turn that does not
    parse is either cut by the token budget (`cut`: still in its thought, or in a body whose tags
    were right so far) or `broken` (a wrong tag, or the end of the reply in the wrong place)."""
    from core.chat import task_messages
    from core.model.generate import Sampling, start_generation

    sampling = Sampling(temperature=0.0, max_new_tokens=max_new_tokens)
    formed, code_ok, code_n, answered, questions, tokens, seconds = 0, 0, 0, 0, 0, 0, 0.0
    cut = {"in_thought": 0, "in_body": 0}
    for prompt in prompts:
        messages = task_messages(prompt["text"])
        turn = start_generation(model, tokenizer, messages, sampling, constrained=False).result()
        tokens += turn.stats.output_tokens
        seconds += turn.stats.seconds
        fields = turn.fields
        formed += fields is not None
        if fields is None and turn.stats.output_tokens >= max_new_tokens:
            where = cut_where(turn.raw)
            if where:
                cut[where] += 1
        if fields is not None and fields.code is not None:
            code_n += 1
            code_ok += compiles(fields.code)
        if prompt.get("kind") == "question":
            questions += 1
            answered += fields is not None and fields.answer is not None
    n = len(prompts)
    return {
        "prompts": n,
        "well_formed": formed / n if n else None,
        "cut_in_thought": cut["in_thought"],
        "cut_in_body": cut["in_body"],
        "broken": n - formed - sum(cut.values()),
        "code_compiles": code_ok / code_n if code_n else None,
        "code_turns": code_n,
        "questions_answered": answered / questions if questions else None,
        "questions": questions,
        "decode_tokens_per_second": tokens / seconds if seconds else None,
    }


def cut_where(raw: str) -> str | None:
    """Where a reply that the budget cut stands, by the rule the app closes cut replies with
    (`grammars.rest.locate`): "in_thought" (before the choice of code or answer), "in_body" (in
    the code or answer), or None (not the start of a turn: a wrong tag before the cut)."""
    from grammars.rest import PrefixError, locate

    try:
        position = locate(raw)
    except PrefixError:
        return None
    return "in_thought" if position.field in (None, "thought") else "in_body"


def decode_speed(model, tokenizer, tokens: int = 48, rounds: int = 2) -> float:
    """Greedy decode tokens/s on one fixed prompt (no grammar), the best of `rounds`."""
    from core.chat import task_messages
    from core.model.generate import Sampling, start_generation

    messages = task_messages("Write a function that reverses a string, and test it.")
    sampling = Sampling(temperature=0.0, max_new_tokens=tokens)
    best = 0.0
    for _ in range(rounds):
        turn = start_generation(model, tokenizer, messages, sampling, constrained=False).result()
        if turn.stats.seconds:
            best = max(best, turn.stats.output_tokens / turn.stats.seconds)
    return best


def trainable_device() -> str:
    from training.trainer import cuda_available

    return "cuda" if cuda_available() else "cpu"


def parse() -> argparse.Namespace:
    from training.settings import TrainConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2", help="model id or folder (default smollm2)")
    parser.add_argument("--max-steps", type=int, default=0, help="cap per stage (0: the epochs)")
    parser.add_argument("--epochs", type=float, default=TrainConfig.epochs)
    parser.add_argument("--pref-epochs", type=float, default=TrainConfig.pref_epochs)
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--pref-lr", type=float, default=TrainConfig.pref_lr)
    parser.add_argument("--beta", type=float, default=TrainConfig.beta, help="DPO's β")
    parser.add_argument(
        "--preference",
        action=argparse.BooleanOptionalAction,
        default=TrainConfig.preference,
        help="DPO (or KTO) after SFT (default: the product's)",
    )
    parser.add_argument("--lora-r", type=int, default=TrainConfig.lora_r)
    parser.add_argument("--max-length", type=int, default=2048)
    parser.add_argument(
        "--checkpointing",
        type=float,
        default=TrainConfig.gradient_checkpointing,
        help="share of the layers recomputed in the backward pass (0 fastest, 1 least memory)",
    )
    parser.add_argument("--lora-dropout", type=float, default=TrainConfig.lora_dropout)
    parser.add_argument("--prompts", type=Path, default=PROMPTS, help="the fixed prompts (JSON)")
    parser.add_argument("--quality-limit", type=int, default=0, help="N prompts, evenly spread")
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--eval-prompts", type=int, default=8, help="held-out format prompts")
    parser.add_argument(
        "--qlora", action="store_true", help="on the CPU too: the 4-bit base (see above)"
    )
    parser.add_argument(
        "--mixed-precision", default="auto", choices=["auto", "bf16", "no"], help="forward passes"
    )
    parser.add_argument("--save", type=Path, help="keep the trained adapter in this folder")
    return parser.parse_args()


def main() -> None:
    args = parse()
    import torch

    from training.adopt import merge_model
    from training.build import EXAMPLES, collect, make_rows
    from training.evaluate import compare, evaluate
    from training.settings import TrainConfig
    from training.trainer import (
        Trainable,
        add_lora,
        load_for_training,
        train_preference,
        train_sft,
    )
    from training.window import WindowStats

    started = time.perf_counter()
    torch.manual_seed(0)
    config = TrainConfig(
        epochs=args.epochs,
        pref_epochs=args.pref_epochs,
        lr=args.lr,
        pref_lr=args.pref_lr,
        beta=args.beta,
        preference=args.preference,
        lora_r=args.lora_r,
        lora_alpha=2 * args.lora_r,
        max_steps=args.max_steps,
        max_length=args.max_length,
        batch_size=1,
        grad_accum=4,
        mixed_precision=args.mixed_precision,
        gradient_checkpointing=args.checkpointing,
        lora_dropout=args.lora_dropout,
    ).validate()
    built = make_rows(collect(None, examples=EXAMPLES), config.eval_share)
    counts = built.manifest["counts"]
    say(
        f"sessions: {len(built.sessions['train'])} train / {len(built.sessions['eval'])} held out "
        f"({built.manifest['groups']} groups); "
        + ", ".join(f"{k} {v['train']}/{v['eval']}" for k, v in counts.items())
    )
    if args.qlora and trainable_device() == "cpu":
        from core.model.loading import load_model

        loaded = load_model(args.model, device="cpu", precision="4bit")
        trainable = Trainable(loaded.model, loaded.tokenizer, args.model, "peft", "cpu", True)
    else:
        trainable = load_for_training(args.model, config, "peft")
    model, tokenizer = trainable.model, trainable.tokenizer
    method = "QLoRA on the 4-bit base" if trainable.quantized else "LoRA on the float32 base"
    params = sum(p.numel() for p in model.parameters())
    say(f"{method}, {trainable.device}; {params / 1e6:.0f}M parameters")
    held = {"sft": built.rows["sft"]["eval"], "preference": built.rows["preference"]["eval"]}
    measure = {
        "max_length": config.max_length,
        "prompts": args.eval_prompts,
        "max_new_tokens": args.max_new_tokens,
    }
    prompts = []
    if args.prompts.is_file():
        prompts = json.loads(args.prompts.read_text(encoding="utf-8"))["prompts"]
        if args.quality_limit and args.quality_limit < len(prompts):  # evenly spread: both kinds
            step = len(prompts) / args.quality_limit
            prompts = [prompts[int(i * step)] for i in range(args.quality_limit)]
    else:
        say(f"no fixed prompts at {args.prompts}: the quality part is skipped")
    say("evaluating the base model")
    before = evaluate(model, tokenizer, held, **measure)
    quality_before = quality(model, tokenizer, prompts, args.max_new_tokens) if prompts else None
    # Said at once: a run cut short (a loaded machine, a timeout) still leaves its baseline.
    say(f"before: {json.dumps(before.as_dict())}; fixed prompts: {json.dumps(quality_before)}")
    peaks = {"baseline": peak_rss_mib()}
    model = add_lora(trainable, config)
    stats = WindowStats()
    progress = [
        lambda t: say(
            f"{t.stage}: step {t.step}/{t.total}, loss {t.loss:.4f}, {t.tokens} tokens, "
            f"{t.seconds:.0f} s" + (" (done)" if t.done else "")
        )
    ]
    # Training never sees the held-out sessions, not even to stop early or to keep its best
    # step: they are for the before/after figures alone.
    stages = [
        train_sft(model, trainable, built.rows["sft"]["train"], [], config, None, progress, stats)
    ]
    unseen = {kind: {"train": split["train"], "eval": []} for kind, split in built.rows.items()}
    if config.preference:
        pref = train_preference(model, trainable, unseen, config, None, progress, stats)
        stages += [pref] if pref is not None else []
    peaks["training"] = peak_rss_mib()
    train_seconds = sum(s.seconds for s in stages)
    train_tokens = sum(s.tokens for s in stages)
    precision = stages[0].precision
    method += f", forward passes in {precision}"
    if args.save:
        model.save_pretrained(str(args.save))
        say(f"adapter saved in {args.save}")
    say("evaluating the adapter")
    after = evaluate(model, tokenizer, held, reference=before, **measure)
    peaks["evaluation"] = peak_rss_mib()
    unmerged_speed = decode_speed(model, tokenizer)
    model = merge_model(model)
    merged_speed = decode_speed(model, tokenizer)
    quality_after = quality(model, tokenizer, prompts, args.max_new_tokens) if prompts else None
    peaks["merged"] = peak_rss_mib()
    from training.loop import machine_flops

    flops = machine_flops(dtype=torch.bfloat16 if precision == "bf16" else None)
    limit = flops / (6 * params)
    speed = train_tokens / train_seconds if train_seconds else 0.0
    say("")
    say(compare(before, after))
    if quality_before:
        for key in ("well_formed", "code_compiles", "questions_answered"):
            say(f"fixed prompts, {key}: {quality_before[key]} → {quality_after[key]}")
        say(
            "fixed prompts not well-formed, before → after: cut by the budget of "
            f"{args.max_new_tokens} tokens in the thought {quality_before['cut_in_thought']} → "
            f"{quality_after['cut_in_thought']}, in the code or answer "
            f"{quality_before['cut_in_body']} → {quality_after['cut_in_body']}; a wrong tag "
            f"{quality_before['broken']} → {quality_after['broken']}"
        )
    say(stats.line(config.max_length))
    say(
        f"training: {train_seconds:.0f} s, {train_tokens} tokens, {speed:.0f} tokens/s "
        f"(rough limit {limit:.0f} tokens/s at {flops / 1e9:.0f} GFLOP/s measured in {precision}; "
        "the tokens are the data's: a DPO pair's shared prompt is counted twice, run once)"
    )
    say(f"decode: {unmerged_speed:.1f} tokens/s unmerged, {merged_speed:.1f} merged")
    wall = time.perf_counter() - started
    phases = ", ".join(f"{k} {v:.0f}" for k, v in peaks.items())
    say(
        f"peak memory: {peak_rss_mib():.0f} MiB resident (the peak so far after: {phases}); "
        f"wall {wall:.0f} s"
    )
    figures = {
        "method": method,
        "precision": precision,
        "settings": {
            key: getattr(config, key)
            for key in ("epochs", "lr", "preference", "pref_epochs", "pref_lr", "beta", "lora_r")
        },
        "gradient_checkpointing": config.gradient_checkpointing,
        "lora_dropout": config.lora_dropout,
        "model": args.model,
        "parameters": params,
        "counts": counts,
        "sessions": built.sessions,
        "windows": vars(stats) | {"notes": None},
        "before": before.as_dict(),
        "after": after.as_dict(),
        "quality_before": quality_before,
        "quality_after": quality_after,
        "stages": [s.as_dict() for s in stages],
        "train_seconds": train_seconds,
        "train_tokens_per_second": speed,
        "rough_limit_tokens_per_second": limit,
        "machine_gflops": flops / 1e9,
        "decode_unmerged": unmerged_speed,
        "decode_merged": merged_speed,
        "peak_rss_mib": peak_rss_mib(),
        "peak_rss_mib_after": peaks,
        "wall_seconds": time.perf_counter() - started,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
