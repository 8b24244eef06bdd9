"""Model loading: real loads of tiny models built in temporary folders, and each refusal's text."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.model.loading import (
    DEMO_LABEL,
    LoadedModel,
    ModelLoadError,
    load_demo,
    load_model,
    load_or_explain,
)
from core.model.templates import CHATML_TEMPLATE
from core.model.tiny import TinySpec, build_tiny_model

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parent.parent
SMALL = TinySpec(vocab_size=512, corpus_bytes=1_000_000, max_positions=256)
MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "x < 1 && y\n\tz"},
]
FIXED_INPUT = [[5, 17, 42, 99, 3, 250, 7]]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(SMALL, cache_dir=tmp_path_factory.mktemp("tiny-cache"))


@pytest.fixture(scope="module")
def loaded(folder: Path) -> LoadedModel:
    return load_model(str(folder), device="cpu")


def _copy(folder: Path, tmp_path: Path, name: str = "copy") -> Path:
    target = tmp_path / name
    shutil.copytree(folder, target)
    return target


def _edit_json(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def _logits(model, ids: list[list[int]]):
    with torch.no_grad():
        return model(input_ids=torch.tensor(ids)).logits


# Loading


def test_loads_a_tiny_folder_on_cpu(folder: Path) -> None:
    messages: list[str] = []
    result = load_model(str(folder), device="cpu", progress=messages.append)
    assert (result.model_id, result.device, result.quantized) == (str(folder), "cpu", False)
    assert (result.adapter, result.demo) == (None, False)
    assert not result.model.training
    assert result.model.dtype == torch.float32
    assert result.label == f"{folder.name} · float32 · cpu"
    assert result.tokenizer.chat_template and result.tokenizer.pad_token is not None
    assert result.model.generation_config.pad_token_id == result.tokenizer.pad_token_id
    assert messages == [f"reading the config of {folder}", "loading tokenizer", messages[2]]
    assert messages[2].startswith("loading weights (float32")
    assert torch.isfinite(_logits(result.model, FIXED_INPUT)).all()


def test_missing_chat_template_gets_chatml(folder: Path, tmp_path: Path) -> None:
    copy = _copy(folder, tmp_path)
    (copy / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((copy / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (copy / "tokenizer_config.json").write_text(json.dumps(config))
    assert transformers.AutoTokenizer.from_pretrained(copy).chat_template is None

    tokenizer = load_model(str(copy), device="cpu").tokenizer
    assert tokenizer.chat_template == CHATML_TEMPLATE
    rendered = tokenizer.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    assert rendered == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nx < 1 && y\n\tz<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_missing_pad_token_becomes_eos(folder: Path, tmp_path: Path) -> None:
    copy = _copy(folder, tmp_path)
    _edit_json(copy / "tokenizer_config.json", pad_token=None)
    tokenizer = load_model(str(copy), device="cpu").tokenizer
    assert tokenizer.pad_token == tokenizer.eos_token == "<|im_end|>"


def test_a_symlinked_or_dotted_folder_is_a_folder(folder: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(folder)
    assert load_model(str(link), device="cpu").label.startswith("link · ")
    relative = os.path.relpath(folder)
    assert load_model(relative, device="cpu").model_id == relative


# Refusals, each with a message that says what to do


def _refusal(model_id: str, **kwargs) -> str:
    with pytest.raises(ModelLoadError) as caught:
        load_model(model_id, **kwargs)
    return str(caught.value)


def test_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    assert _refusal(str(missing)) == (
        f"model folder {missing} does not exist; pass a folder that has config.json, or a hub id"
    )


def test_folder_without_config(tmp_path: Path) -> None:
    assert "has no config.json" in _refusal(str(tmp_path))


def test_uncached_hub_id_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # Set after huggingface_hub was imported, which only reads it at import: load_model must
    # read it again, or this test would wait on network retries.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model_id = "kyzel-test/definitely-not-cached-xyz"
    message = _refusal(model_id)
    assert message.startswith(f"cannot load {model_id}: it is not in the local Hugging Face cache")
    assert f"`hf download {model_id}`" in message
    assert "--model" in message and "--demo" in message


def test_bert_is_not_a_causal_lm(folder: Path, tmp_path: Path) -> None:
    bert = tmp_path / "bert"
    config = transformers.BertConfig(
        vocab_size=512,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    transformers.BertModel(config).save_pretrained(bert)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(folder / name, bert / name)
    # transformers itself would load it, as a BertLMHeadModel with a random head.
    assert _refusal(str(bert)) == (
        f"{bert} is a bert model, not a causal language model: choose a text-generation model"
    )


def test_tokenizer_without_eos(folder: Path, tmp_path: Path) -> None:
    copy = _copy(folder, tmp_path)
    _edit_json(copy / "tokenizer_config.json", eos_token=None)
    assert _refusal(str(copy)) == (
        f"{copy}'s tokenizer has no end-of-sequence token, so a turn could never end: "
        "choose another model"
    )


def test_folder_without_tokenizer_files(folder: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(folder / name, bare / name)
    assert "tokenizer is empty" in _refusal(str(bare))


def test_folder_without_weights(folder: Path, tmp_path: Path) -> None:
    copy = _copy(folder, tmp_path)
    (copy / "model.safetensors").unlink()
    assert "no file named model.safetensors" in _refusal(str(copy), device="cpu")


def test_unknown_precision(folder: Path) -> None:
    message = _refusal(str(folder), device="cpu", precision="int3")
    assert message.startswith("precision must be one of 4bit, bf16, fp32")


def test_tiny_models_stay_in_full_precision_by_default(loaded: LoadedModel) -> None:
    # Real models load in 4-bit; a tiny one (the random test model) would gain nothing.
    assert not loaded.quantized and loaded.model.dtype == torch.float32


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_asked_without_one(folder: Path) -> None:
    assert "no CUDA GPU" in _refusal(str(folder), device="cuda")


def test_unknown_device(folder: Path) -> None:
    assert "device must be 'cuda' or 'cpu'" in _refusal(str(folder), device="tpu")


# Adapters


@pytest.fixture(scope="module")
def adapter(folder: Path, tmp_path_factory: pytest.TempPathFactory):
    """A LoRA adapter saved from the tiny model, and the in-memory PEFT model it was saved from."""
    from peft import LoraConfig, get_peft_model

    base = transformers.AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    # Random B matrices (not PEFT's zeros) so that the adapter visibly changes the logits.
    config = LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False)
    peft_model = get_peft_model(base, config).eval()
    path = tmp_path_factory.mktemp("adapters") / "lora"
    peft_model.save_pretrained(path)
    saved = json.loads((path / "adapter_config.json").read_text())
    assert saved["base_model_name_or_path"] == str(folder)
    return path, peft_model


def test_adapter_loads_with_the_same_logits(folder: Path, adapter, loaded: LoadedModel) -> None:
    from peft import PeftModel

    path, peft_model = adapter
    result = load_model(str(folder), adapter=str(path), device="cpu")
    assert isinstance(result.model, PeftModel) and not result.model.training
    assert result.adapter == str(path)
    assert result.label == f"{folder.name} · float32 · cpu · adapter lora"
    ours = _logits(result.model, FIXED_INPUT)
    assert torch.allclose(ours, _logits(peft_model, FIXED_INPUT), atol=1e-5)
    assert not torch.allclose(ours, _logits(loaded.model, FIXED_INPUT), atol=1e-3)


def test_adapter_base_named_by_another_path_to_the_same_folder(
    folder: Path, adapter, tmp_path: Path
) -> None:
    link = tmp_path / "same"
    link.symlink_to(folder)
    assert load_model(str(link), adapter=str(adapter[0]), device="cpu").adapter == str(adapter[0])


def test_adapter_of_another_base_is_refused(folder: Path, adapter, tmp_path: Path) -> None:
    other = _copy(folder, tmp_path, "other-base")
    message = _refusal(str(other), adapter=str(adapter[0]), device="cpu")
    assert message == (
        f"adapter {adapter[0]} was trained on {folder}, not on {other}: "
        f"load it with --model {folder}"
    )


def test_missing_adapter_folder_is_refused(folder: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-adapter"
    message = _refusal(str(folder), adapter=str(missing), device="cpu")
    assert message.startswith(f"adapter folder {missing} does not exist")


def test_folder_without_adapter_config_is_refused(folder: Path, tmp_path: Path) -> None:
    message = _refusal(str(folder), adapter=str(tmp_path), device="cpu")
    assert message == f"{tmp_path} is not a PEFT adapter folder: it has no adapter_config.json"


# Defaults, the demo, the import


def test_load_demo(tiny) -> None:
    # The session's shared tiny model sits in the default spec's folder: reuse its cache.
    cache = Path(tiny[0].name_or_path).parent
    demo = load_demo(cache)
    assert demo.demo and demo.device == "cpu" and not demo.quantized
    assert demo.label == DEMO_LABEL and "random" in demo.label
    assert Path(demo.model_id).parent == cache
    assert torch.isfinite(_logits(demo.model, FIXED_INPUT)).all()


def test_load_or_explain_demo(tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KYZEL_TINY_CACHE", str(Path(tiny[0].name_or_path).parent))
    assert load_or_explain("ignored/when-demo", demo="random").demo


def test_load_or_explain_passes_errors_on(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_or_explain(str(tmp_path / "nowhere"), demo=False)


def test_import_does_not_import_torch() -> None:
    code = (
        "import sys, core.model.loading; "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]


def test_cached_hub_id_loads_without_network(folder: Path, tmp_path: Path) -> None:
    # A hub id whose files are in the Hugging Face cache loads from it without touching the
    # network, offline mode or not. The cache location is read at import: a fresh process.
    snapshot = tmp_path / "hub" / "models--kyzel-test--tiny" / "snapshots" / ("0" * 40)
    shutil.copytree(folder, snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE")}
    # A proxy that does not exist: any network use fails at once rather than retrying.
    env |= {"HF_HUB_CACHE": str(tmp_path / "hub"), "HF_ENDPOINT": "http://127.0.0.1:9"}
    code = "from core.model.loading import load_model; print(load_model('kyzel-test/tiny').label)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "127.0.0.1:9" not in out.stderr, "the hub was asked for something"
    assert out.stdout.strip().endswith("kyzel-test/tiny · float32 · cpu")


# 4-bit, on the CPU and (where there is one) on a GPU

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.gpu,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
        ],
    ),
]


@pytest.mark.parametrize("device", DEVICES)
def test_four_bit(device: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bitsandbytes as bnb

    monkeypatch.setenv("KYZEL_MODEL_CACHE", str(tmp_path / "cache"))
    # hidden_size 256: bitsandbytes quantises linear layers whose sizes it can pack.
    spec = TinySpec(
        vocab_size=512,
        hidden_size=256,
        intermediate_size=512,
        corpus_bytes=1_000_000,
        max_positions=256,
    )
    folder = build_tiny_model(spec, cache_dir=tmp_path)
    result = load_model(str(folder), device=device, precision="4bit")
    assert (result.device, result.quantized) == (device, True)
    assert result.label == f"{folder.name} · 4-bit · {device}"
    projections = [m for n, m in result.model.named_modules() if n.endswith("q_proj")]
    assert projections and all(isinstance(m, bnb.nn.Linear4bit) for m in projections)
    with torch.no_grad():
        logits = result.model(input_ids=torch.tensor(FIXED_INPUT, device=device)).logits
    assert torch.isfinite(logits).all()
    if device == "cpu":  # the quantised copy kept in the cache loads the same weights
        again = load_model(str(folder), device=device, precision="4bit")
        assert list((tmp_path / "cache" / "nf4").iterdir())
        with torch.no_grad():
            assert torch.equal(again.model(input_ids=torch.tensor(FIXED_INPUT)).logits, logits)
    # And a constrained turn from it, through the same generation path as on CPU.
    from core.model.generate import Sampling, start_generation

    messages = [{"role": "user", "content": "list the files"}]
    turn = start_generation(
        result.model, result.tokenizer, messages, Sampling(max_new_tokens=64, seed=0)
    ).result()
    assert turn.fields is not None, turn.raw


def test_an_unreachable_hub_is_known_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.model.source import hub_reachable

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    assert hub_reachable() is False
