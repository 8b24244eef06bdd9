"""Training in two processes under `accelerate launch` on the CPU (gloo), against one process.

Real launches: torchrun's launcher starts two Python processes that join a gloo group; the
gradients of a step split between them come out as one process's, and `kyzel-tui --train
--processes 2` writes an adapter with the keys, shapes, config and (nearly) the weights of the
single-process run, which the app's loader loads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_training_build import small_store

from core.store.database import Store
from kyzel_tui.cli import main
from training.registry import list_adapters

ROOT = Path(__file__).resolve().parents[1]
# One SFT step's gradients in a launched process: its own part, then synchronised. The rows have
# different numbers of trainable tokens, so a mean of the two processes' means would be wrong.
STEP = """
import sys, torch
from core.model.tiny import TinySpec, load_tiny_model
from training import distributed
from training.settings import TrainConfig
from training.stages import sft_step
from training.trainer import Trainable, add_lora

def lora_model(cache):
    model, tokenizer = load_tiny_model(TinySpec(), cache_dir=cache)
    config = TrainConfig(lora_dropout=0.0, gradient_checkpointing=False)
    model = add_lora(Trainable(model, tokenizer, "tiny", "peft", "cpu", False), config)
    noise = torch.Generator().manual_seed(1)
    with torch.no_grad():  # LoRA's B starts at zero, which would leave A without a gradient
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=noise) * 0.05)
    model.train()
    return model

def rows():
    ids = torch.Generator().manual_seed(2)
    out = []
    for length, trainable in ((12, 3), (30, 25), (20, 9), (16, 15), (9, 2)):
        tokens = torch.randint(0, 2000, (length,), generator=ids).tolist()
        out.append({"ids": tokens, "mask": [0] * (length - trainable) + [1] * trainable})
    return out

def grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

if __name__ == "__main__":
    group = distributed.current()
    model, batch = lora_model(sys.argv[1]), rows()
    mine = group.shard(batch)
    loss, tokens = sft_step(model, mine)
    local = grads(model)
    params = [p for p in model.parameters() if p.requires_grad]
    loss, tokens = group.sync(params, mine, batch, loss, tokens)
    if group.main:
        torch.save({"size": group.size, "local": local, "synced": grads(model),
                    "loss": loss, "tokens": tokens}, sys.argv[2])
    distributed.finish()
"""
FAST = ["--set", "eval_every=2", "--set", "eval_prompts=1", "--set", "eval_max_new_tokens=8"]


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory) -> Path:
    from core.model.tiny import TinySpec, build_tiny_model

    cache = tmp_path_factory.mktemp("tiny")
    build_tiny_model(TinySpec(), cache)
    return cache


def env(tiny_cache: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "KYZEL_TINY_CACHE": str(tiny_cache)}


@pytest.mark.slow
def test_a_step_split_over_two_processes_has_the_gradient_of_one(tmp_path, tiny_cache):
    import torch

    script = tmp_path / "step.py"
    script.write_text(STEP)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu"]
    launch += ["--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no"]
    launch += ["--dynamo_backend", "no", "--main_process_port", "0"]
    worker = env(tiny_cache) | {
        "KYZEL_TRAIN_ARGS": "{}",
        "OMP_NUM_THREADS": "1",
    }
    out = tmp_path / "grads.pt"
    done = subprocess.run(
        [*launch, str(script), str(tiny_cache), str(out)],
        env=worker,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    two = torch.load(out)
    assert two["size"] == 2

    sys.path.insert(0, str(tmp_path))
    try:
        import step  # the same model and rows, in this one process
    finally:
        sys.path.remove(str(tmp_path))
    model, batch = step.lora_model(str(tiny_cache)), step.rows()
    loss, tokens = step.sft_step(model, batch)
    one = step.grads(model)
    assert set(one) == set(two["synced"]) and len(one) > 4
    for name, grad in one.items():
        assert grad.abs().max() > 0, name
        torch.testing.assert_close(two["synced"][name], grad, rtol=1e-4, atol=1e-7)
    # Process 0 alone had another gradient: the synchronisation is what made them equal.
    assert any(not torch.allclose(two["local"][n], g, rtol=1e-2) for n, g in one.items())
    assert two["loss"] == pytest.approx(loss, rel=1e-5)
    assert two["tokens"] == tokens == sum(len(row["ids"]) for row in batch)


def train(home: Path, tiny_cache: Path, *extra: str) -> subprocess.CompletedProcess:
    args = ["--home", str(home), "--train", "--demo=random", "--no-examples", "--max-steps", "3"]
    # float32: the two runs differ only by how the steps are split, not by bf16 rounding
    args += [*FAST, "--set", "lora_dropout=0", "--set", "mixed_precision=no", *extra]
    return subprocess.run(
        [sys.executable, "-m", "kyzel_tui", *args],
        env=env(tiny_cache),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_two_processes_write_the_adapter_of_one_and_the_app_loads_it(tmp_path, tiny_cache):
    from safetensors.torch import load_file

    from core.model.loading import load_model

    homes = {name: tmp_path / name for name in ("one", "two")}
    with Store.open(homes["one"]) as store:
        small_store(store, 4)
    shutil.copytree(homes["one"], homes["two"])  # the same sessions, ids and all
    runs = {}
    for name, extra in (("one", ()), ("two", ("--processes", "2"))):
        done = train(homes[name], tiny_cache, *extra)
        assert done.returncode == 0, done.stderr[-3000:]
        (runs[name],) = list_adapters(homes[name])
    assert "training in 2 processes" in done.stderr and "Traceback" not in done.stderr
    assert (homes["two"] / "logs" / "train-process-1.log").is_file()  # not on the screen

    two = runs["two"].path
    config = {n: json.loads((runs[n].path / "adapter_config.json").read_text()) for n in runs}
    for each in config.values():  # a set in PEFT, written in each process's hash order
        each["target_modules"] = sorted(each["target_modules"])
    assert config["one"] == config["two"]
    weights = {n: load_file(str(runs[n].path / "adapter_model.safetensors")) for n in runs}
    assert {k: v.shape for k, v in weights["one"].items()} == {
        k: v.shape for k, v in weights["two"].items()
    }
    for key, value in weights["one"].items():  # the same steps: the same weights, nearly
        # Summed in another order, a gradient near 0 can tip Adam's step on a lone element by
        # about the learning rate; so the check is on each tensor as a whole.
        apart = float((weights["two"][key] - value).norm() / value.norm())
        assert apart < 1e-3, (key, apart)
    stages = {
        n: [(s["stage"], s["steps"], s["tokens"]) for s in runs[n].meta["stages"]] for n in runs
    }
    assert stages["one"] == stages["two"]

    base = runs["two"].base_model
    loaded = load_model(base, adapter=str(two), device="cpu")
    assert loaded.adapter and "adapter" in loaded.label


def test_bad_launch_options_say_what_to_do(tmp_path, tiny_cache, monkeypatch, capsys):
    monkeypatch.setenv("KYZEL_TINY_CACHE", str(tiny_cache))
    home = tmp_path / "home"
    with Store.open(home) as store:
        small_store(store, 2)
    base = ["--home", str(home), "--train", "--demo=random", "--no-examples"]
    assert main([*base, "--processes", "0"]) == 1
    assert capsys.readouterr().err.strip().endswith("kyzel-tui: --processes wants 1 or more")
    missing = tmp_path / "nowhere.yaml"
    assert main([*base, "--accelerate-config", str(missing)]) == 1
    err = capsys.readouterr().err
    assert f"no accelerate config file at {missing}: `accelerate config` writes one" in err
    assert not list_adapters(home)
