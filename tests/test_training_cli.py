"""`kyzel-tui --train` end to end on the demo model; the registry, review, dry runs, exclusions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_training_build import small_store

from core.store.database import Store
from kyzel_tui.cli import main
from training.registry import RegistryError, list_adapters, resolve_adapter

ROOT = Path(__file__).resolve().parents[1]
# Runs the CLI, then says whether Unsloth was imported: the fake package below records imports.
RUNNER = (
    "import sys\n"
    "from kyzel_tui.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print('UNSLOTH-LOADED' if 'unsloth' in sys.modules else 'UNSLOTH-ABSENT')\n"
    "sys.exit(code)\n"
)
FAST = ["--set", "eval_every=2", "--set", "eval_prompts=1", "--set", "eval_max_new_tokens=8"]


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory) -> Path:
    from core.model.tiny import TinySpec, build_tiny_model

    cache = tmp_path_factory.getbasetemp() / "kyzel-tiny-cache"
    build_tiny_model(TinySpec(), cache)
    return cache


@pytest.fixture
def home(tmp_path, tiny_cache, monkeypatch) -> Path:
    monkeypatch.setenv("KYZEL_TINY_CACHE", str(tiny_cache))
    with Store.open(tmp_path / "home") as store:
        small_store(store, 4)
    return tmp_path / "home"


def demo_folder(cache: Path) -> str:
    from core.model.tiny import TinySpec

    return str(cache / TinySpec().folder_name())


def test_train_demo_end_to_end_registers_an_adapter_the_app_can_load(
    home, tiny_cache, tmp_path, capsys
):
    from core.model.loading import ModelLoadError, load_model

    fake = tmp_path / "fake-site" / "unsloth"
    fake.mkdir(parents=True)
    marker = tmp_path / "unsloth-imported"
    (fake / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    env = {
        **os.environ,
        "KYZEL_TINY_CACHE": str(tiny_cache),
        "PYTHONPATH": os.pathsep.join([str(fake.parent), str(ROOT)]),
    }
    args = [
        "--home",
        str(home),
        "--train",
        "--demo=random",
        "--no-examples",
        "--max-steps",
        "2",
        "--set",
        "preference=true",
        *FAST,
    ]
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "UNSLOTH-ABSENT" in out and not marker.exists()  # installed, yet never imported
    assert "held-out figure" in out and "SFT loss" in out and "by default" in out
    assert "sft" in done.stderr and "loss" in done.stderr  # the progress line

    (run,) = list_adapters(home)
    metrics = run.metrics
    assert set(metrics) == {"before", "after"} and metrics["after"]["loss"] is not None
    assert metrics["after"]["pairs"] >= 1 and metrics["after"]["prompts"] == 1
    assert [s["stage"] for s in run.meta["stages"]] == ["sft", "dpo"]
    assert (run.path / "manifest.json").is_file() and (run.path / "loss-sft.png").is_file()
    assert not (run.path / "checkpoints").exists()

    assert main(["--home", str(home), "adapters"]) == 0
    listed = capsys.readouterr().out
    assert run.run_id in listed and "sft+dpo" in listed and "demo" in listed

    base = demo_folder(tiny_cache)
    assert run.base_model == base
    assert resolve_adapter(home, "latest", base) == run.path
    loaded = load_model(base, adapter=str(resolve_adapter(home, "latest", base)), device="cpu")
    assert loaded.adapter and "adapter" in loaded.label

    with pytest.raises(RegistryError, match="was trained on .*not on Qwen/Other.*--demo"):
        resolve_adapter(home, run.run_id, "Qwen/Other", demo_base=base)
    with pytest.raises(RegistryError, match="no adapter was trained on Qwen/Other"):
        resolve_adapter(home, "latest", "Qwen/Other", demo_base=base)
    with pytest.raises(ModelLoadError, match="was trained on"):
        load_model("Qwen/Other", adapter=str(run.path))  # refused before any weights load


def test_eval_runs_alone_and_keeps_its_figures_with_the_adapter(home, capsys):
    args = ["--home", str(home), "--train", "--demo=random", "--no-examples", "--max-steps", "1"]
    assert main([*args, *FAST]) == 0  # the default: SFT alone, and --train says so
    (run,) = list_adapters(home)
    assert [s["stage"] for s in run.meta["stages"]] == ["sft"]
    assert "not trained on (`--set preference=true` adds DPO or KTO)" in capsys.readouterr().err
    assert main(["--home", str(home), "eval", "--adapter", run.run_id[:8], *FAST]) == 0
    out = capsys.readouterr().out
    assert "held-out figure" in out and "loss on accepted turns" in out
    (line,) = (run.path / "evaluations.jsonl").read_text().splitlines()
    after = json.loads(line)["after"]
    assert after["loss"] == pytest.approx(run.metrics["after"]["loss"], rel=1e-4)


def test_adapters_lists_and_deletes_and_the_app_refuses_another_base(home, tiny_cache, capsys):
    import time

    from training import registry

    run_id = registry.new_run_id(home)
    folder = registry.staging(home, run_id)
    (folder / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": demo_folder(tiny_cache)})
    )
    registry.commit(
        home,
        run_id,
        {"base_model": demo_folder(tiny_cache), "created": time.time(), "metrics": {}},
    )
    assert main(["--home", str(home), "adapters"]) == 0
    out = capsys.readouterr().out
    assert run_id in out and "demo" in out
    # --adapter is resolved before the app starts: a wrong base never opens the app.
    assert main(["--home", str(home), "--model", "Qwen/Other", "--adapter", run_id]) == 1
    assert f"adapter {run_id} was trained on" in capsys.readouterr().err
    assert main(["--home", str(home), "adapters", "--delete", run_id]) == 0
    assert list_adapters(home) == []


def test_dry_run_review_and_exclude(home, capsys):
    # No held-out share: which sessions a share holds out depends on their (random) ids.
    base = ["--home", str(home), "--train", "--demo=random", "--no-examples", "--eval-share", "0"]
    assert main([*base, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "sessions: 4 for training, 0 held out" in out and "⟦<thought>" in out
    assert "preference: " in out and "datasets written to" in out
    assert len(list((home / "datasets").iterdir())) == 1

    assert main([*base, "--review"]) == 0
    out = capsys.readouterr().out
    with Store.open(home) as store:
        sessions = store.sessions()
    assert all(s.id in out and s.title in out for s in sessions)
    assert "+ " in out and "print(" in out

    victim = sessions[0]
    assert main(["--home", str(home), "exclude", victim.id[:12], "--reason", "private"]) == 0
    capsys.readouterr()
    assert main([*base, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "sessions: 3 for training, 0 held out" in out
    assert main([*base, "--review"]) == 0
    assert f"excluded sessions: {victim.id}" in capsys.readouterr().out

    assert main(["--home", str(home), "exclude", victim.id, "--undo"]) == 0
    assert "back in" in capsys.readouterr().out
    assert main([*base, "--dry-run"]) == 0
    assert "4 for training, 0 held out" in capsys.readouterr().out


def test_excluding_a_turn_drops_its_rows(home, capsys):
    from core.session import Session
    from training.build import collect, make_rows

    with Store.open(home) as store:
        info = store.sessions()[0]
        rejected = next(
            t.id
            for t in Session.open(store, info.id).tree.turns()
            if Session.open(store, info.id).tree.decision(t.id).value == "rejected"
        )
        before = make_rows(collect(store, [info.id], None), 0.0).manifest["counts"]
    assert main(["--home", str(home), "exclude", info.id, "--turn", rejected[-8:]]) == 1
    assert "match" in capsys.readouterr().err  # a suffix is not an id prefix
    assert main(["--home", str(home), "exclude", info.id, "--turn", rejected]) == 0
    with Store.open(home) as store:
        after = make_rows(collect(store, [info.id], None), 0.0).manifest["counts"]
    assert before["preference"]["train"] == 1 and after["preference"]["train"] == 0
    assert after["sft"]["train"] == before["sft"]["train"]


def test_training_flags_need_train_and_bad_settings_say_so(home, capsys):
    with pytest.raises(SystemExit):
        main(["--dry-run"])
    assert "go with --train" in capsys.readouterr().err
    assert main(["--home", str(home), "--train", "--review", "--set", "nope=1"]) == 1
    assert "unknown training setting 'nope'" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
def test_unsloth_backend_trains_and_saves_on_cuda(tmp_path):
    import importlib.util

    import torch

    from core.model.loading import load_model
    from core.model.tiny import TinySpec, build_tiny_model
    from training.settings import TrainConfig
    from training.trainer import add_lora, choose_backend, load_for_training, train_sft

    if importlib.util.find_spec("unsloth") is None:
        pytest.skip("unsloth is not installed (pip install kyzel-tui[gpu])")
    config = TrainConfig(lr=5e-3, max_steps=10, batch_size=2, grad_accum=1, patience=0)
    assert choose_backend(config) == "unsloth"
    folder = str(build_tiny_model(TinySpec(arch="llama", hidden_size=128), tmp_path / "cache"))
    trainable = load_for_training(folder, config, "unsloth")
    model = add_lora(trainable, config)
    rows = [
        {
            "session_id": "s",
            "messages": [
                {"role": "user", "content": f"n {i}"},
                {"role": "assistant", "content": f"<thought>t</thought>\n<answer>{i}</answer>"},
            ],
            "trainable": [False, True],
        }
        for i in range(8)
    ]
    result = train_sft(model, trainable, rows, [], config, tmp_path / "work")
    assert result.train_loss[-1][1] < result.train_loss[0][1]
    model.peft_config["default"].base_model_name_or_path = folder
    model.save_pretrained(str(tmp_path / "adapter"))
    loaded = load_model(folder, adapter=str(tmp_path / "adapter"))
    assert loaded.adapter is not None and torch.cuda.is_available()
