"""Data-parallel training benchmark: one process against N under `accelerate launch`.

    python bench/distributed.py [--models tiny,smollm2] [--processes 2] [--steps 6] [--repeats 2]

The same SFT stage (`training.stages.train_sft` through `training.loop.run_stage`, LoRA on all
linear layers, 4 rows a step of about `--words` words each, no evaluation) runs in one process
and in N processes launched as `kyzel-tui --train --processes N` launches them (torchrun's
launcher; gloo on the CPU), interleaved, `--repeats` times. On the CPU one process runs with
every core and again with one thread; each of the N gets its share of the cores. Figures: the
stage's tokens/s as process 0 measures it (the whole step's tokens, all processes together), and
the wall time of the whole run (start, model load, process group, stage). Models: the tiny
random demo model and the embedded SmolLM2-135M. Prints figures for people, then one JSON
object of them as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from train import peak_rss_mib, rows  # noqa: E402


def model_folder(name: str) -> str:
    if name == "tiny":
        from core.model.tiny import TinySpec, build_tiny_model

        return str(build_tiny_model(TinySpec()))
    from core.model.embedded import smollm2_folder

    return str(smollm2_folder())


def worker(model_id: str, steps: int, words: int, out: str) -> None:
    """One process of a run (or the only one): the SFT stage, figures from process 0."""
    from training import distributed
    from training.settings import TrainConfig
    from training.trainer import add_lora, load_for_training, train_sft

    group = distributed.current()
    config = TrainConfig(
        max_steps=steps, batch_size=4, grad_accum=1, patience=0, lr=1e-4, max_length=4096
    )
    config.lora_dropout = 0.0
    trainable = load_for_training(model_id, config, "peft")
    model = add_lora(trainable, config)
    with tempfile.TemporaryDirectory() as work:
        result = train_sft(model, trainable, rows(4 * steps, words), [], config, Path(work))
    if group.main:
        figures = {
            "processes": group.size,
            "steps": result.steps,
            "tokens": result.tokens,
            "seconds": result.seconds,
            "tokens_per_second": result.tokens_per_second,
            "peak_rss_mib": peak_rss_mib(),
        }
        Path(out).write_text(json.dumps(figures))
    distributed.finish()


def run(model_id: str, processes: int, threads: int, steps: int, words: int) -> dict:
    """One timed run in `processes` processes of `threads` threads; process 0's figures and the
    wall time."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "figures.json"
        command = [__file__, "--worker", model_id, str(steps), str(words), str(out)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env["OMP_NUM_THREADS"] = str(threads)
        if processes > 1:
            launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu"]
            launch += ["--num_processes", str(processes), "--num_machines", "1"]
            launch += ["--mixed_precision", "no", "--dynamo_backend", "no"]
            launch += ["--main_process_port", "0"]
            env["KYZEL_TRAIN_ARGS"] = "{}"
            command = [*launch, *command]
        else:
            command = [sys.executable, *command]
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
        wall = time.perf_counter() - started
        if done.returncode:
            raise SystemExit(f"the {processes}-process run failed:\n{done.stderr[-3000:]}")
        return json.loads(out.read_text()) | {"wall_seconds": wall}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        worker(argv[1], int(argv[2]), int(argv[3]), argv[4])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny,smollm2")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--words", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--single-threads",
        default="all,1",
        help="thread counts for the one-process runs (all: every core); on a loaded machine a "
        "process of several threads can stall on its own threads for minutes",
    )
    args = parser.parse_args(argv)
    print(f"CPU cores: {os.cpu_count()}; {args.steps} steps of 4 rows, ~{args.words} words each")
    cores, many = os.cpu_count() or 1, args.processes
    # On a loaded machine a process of several threads can stall on its own threads, so one
    # process is measured both with every core and with one thread.
    singles = [cores if t == "all" else int(t) for t in args.single_threads.split(",")]
    shapes = {f"1p{t}t": (1, t) for t in singles} | {f"{many}p": (many, max(1, cores // many))}
    figures: dict[str, dict] = {}
    for name in args.models.split(","):
        folder = model_folder(name)
        runs: dict[str, list[dict]] = {key: [] for key in shapes}
        for _ in range(args.repeats):  # interleaved: the machine's load falls on all alike
            for key, (processes, threads) in shapes.items():
                runs[key].append(run(folder, processes, threads, args.steps, args.words))
        figures[name] = {}
        for key, done in runs.items():
            processes, threads = shapes[key]
            # Every run of a model sees the same tokens: the speed of the median run's time.
            seconds = statistics.median(r["seconds"] for r in done)
            speed = done[0]["tokens"] / seconds
            wall = statistics.median(r["wall_seconds"] for r in done)
            figures[name][key] = {
                "processes": processes,
                "threads_each": threads,
                "tokens_per_second": round(speed, 1),
                "stage_seconds": round(seconds, 2),
                "stage_seconds_each": [round(r["seconds"], 2) for r in done],
                "wall_seconds": round(wall, 1),
                "tokens": done[0]["tokens"],
                "peak_rss_mib_process0": round(max(r["peak_rss_mib"] for r in done), 1),
            }
            print(
                f"{name:8} {processes} process(es) × {threads} thread(s): {speed:8.1f} tokens/s "
                f"in the stage, {wall:6.1f} s wall (median of {len(done)})"
            )
        for key in (k for k in shapes if k.startswith("1p")):
            ratio = (
                figures[name][f"{many}p"]["tokens_per_second"]
                / figures[name][key]["tokens_per_second"]
            )
            figures[name][f"speedup_vs_{key}"] = round(ratio, 3)
            print(f"{name:8} {many} processes against {key}: {ratio:.2f}× the tokens/s")
    load = os.getloadavg()[0]
    print(f"load average while measuring: {load:.1f} on {cores} cores")
    print(json.dumps({"bench": "distributed", "cores": cores, "load": round(load, 1), **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
