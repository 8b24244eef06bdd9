"""The tiny model builder: real builds into a temporary cache, loaded the way the app loads them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import unicodedata
from dataclasses import replace
from pathlib import Path

import pytest

from core.model.tiny import SPEC_FILE, SPECIAL_TOKENS, TinySpec, build_tiny_model

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parent.parent
SMALL = TinySpec(vocab_size=512, corpus_bytes=1_000_000, max_positions=256)
HOSTILE = [
    "<code>x < 1 && y</code>",
    "]]>",
    "é ü 🙂",
    "\tindented\twith\ttabs\n\n\nafter blank lines\n",
    "!ls -la",
    "%timeit sum(range(10))",
    "  leading spaces, trailing spaces  ",
    "a . b 's don't ,x",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-cache")


@pytest.fixture(scope="module")
def folder(cache: Path) -> Path:
    return build_tiny_model(SMALL, cache_dir=cache)


@pytest.fixture(scope="module")
def tokenizer(folder: Path):
    return transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)


@pytest.fixture(scope="module")
def model(folder: Path):
    return transformers.AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()


def _generate(model, tokenizer, max_new_tokens: int = 8) -> tuple[int, torch.Tensor]:
    messages = [{"role": "user", "content": "print('hi')"}]
    ids = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )["input_ids"]
    with torch.no_grad():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            min_new_tokens=max_new_tokens,
            do_sample=False,
        )
    return ids.shape[1], out


def test_folder_layout_and_config(folder: Path, model, tokenizer) -> None:
    assert folder.name.startswith("qwen2-v512-h64-l2-")
    assert (folder / SPEC_FILE).is_file()
    assert (folder / "model.safetensors").is_file()
    assert folder.stat().st_mode & 0o777 == 0o755
    assert not list(folder.parent.glob(".*.tmp-*")), "temporary build folder left behind"
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert model.dtype == torch.float32
    assert model.config.vocab_size == len(tokenizer) <= SMALL.vocab_size
    assert model.config.tie_word_embeddings
    assert model.get_output_embeddings().weight.data_ptr() == (
        model.get_input_embeddings().weight.data_ptr()
    )
    eos, pad = tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    assert (tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.bos_token) == (eos, pad, None)
    for cfg in (model.config, model.generation_config):
        assert (cfg.eos_token_id, cfg.pad_token_id, cfg.bos_token_id) == (eos, pad, None)


def test_generate_on_chat_prompt(model, tokenizer) -> None:
    prompt_len, out = _generate(model, tokenizer)
    assert out.shape == (1, prompt_len + 8)
    assert isinstance(tokenizer.decode(out[0, prompt_len:]), str)


def test_chat_template_renders_chatml(tokenizer) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "x < 1 && y\n\tz"},
        {"role": "assistant", "content": "ok"},
    ]
    expected = (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nx < 1 && y\n\tz<|im_end|>\n"
        "<|im_start|>assistant\nok<|im_end|>\n"
    )
    assert tokenizer.apply_chat_template(messages, tokenize=False) == expected
    prompt = tokenizer.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True)
    assert prompt == expected.rsplit("<|im_start|>assistant", 1)[0] + "<|im_start|>assistant\n"


def test_special_tokens_are_single_ids(tokenizer) -> None:
    ids = [tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS]
    assert len(set(ids)) == len(SPECIAL_TOKENS)
    for token, token_id in zip(SPECIAL_TOKENS, ids, strict=True):
        assert tokenizer.encode(token, add_special_tokens=False) == [token_id]
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    encoded = tokenizer.encode(rendered, add_special_tokens=False)
    assert encoded[0] == ids[1] and encoded.count(ids[2]) == 1
    # Ordinary text never merges into a special id, even text made of their pieces.
    pieces = tokenizer.encode("<|im_ start|> im_end |>endoftext", add_special_tokens=False)
    assert not set(pieces) & set(ids)


@pytest.mark.parametrize("text", HOSTILE)
def test_round_trip_is_exact(tokenizer, text: str) -> None:
    assert tokenizer.unk_token is None  # byte level: there is nothing to be unknown
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text


def test_text_is_nfc_normalised_like_qwen2(tokenizer) -> None:
    decomposed = unicodedata.normalize("NFD", "é ü")
    assert decomposed != "é ü"
    assert tokenizer.decode(tokenizer.encode(decomposed, add_special_tokens=False)) == "é ü"


def test_auto_tokenizer_applies_the_trained_pipeline(folder: Path, tokenizer) -> None:
    # AutoTokenizer rebuilds a qwen2 folder's pipeline in Python (transformers 5): it must agree
    # with the tokenizer.json that training wrote, token for token.
    from tokenizers import Tokenizer

    trained = Tokenizer.from_file(str(folder / "tokenizer.json"))
    sample = (Path(os.__file__)).read_text()[:20_000] + "".join(HOSTILE) + " 12345 it's\r\n"
    assert tokenizer.encode(sample, add_special_tokens=False) == trained.encode(sample).ids


def test_round_trip_with_special_tokens_in_between(tokenizer) -> None:
    text = "<|im_start|>user\n" + "".join(HOSTILE) + "<|im_end|>\n"
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text


def test_second_build_is_served_from_cache(cache: Path, folder: Path) -> None:
    before = folder.stat().st_mtime_ns
    started = time.perf_counter()
    again = build_tiny_model(SMALL, cache_dir=cache)
    assert time.perf_counter() - started < 0.5
    assert again == folder
    assert folder.stat().st_mtime_ns == before


def test_different_seed_gives_different_weights(cache: Path, folder: Path, model) -> None:
    other = build_tiny_model(replace(SMALL, seed=1), cache_dir=cache)
    assert other != folder and other.parent == folder.parent
    other_model = transformers.AutoModelForCausalLM.from_pretrained(other, local_files_only=True)
    a = model.get_input_embeddings().weight
    b = other_model.get_input_embeddings().weight
    assert a.shape == b.shape and not torch.equal(a, b)


def test_build_is_deterministic(tmp_path: Path, folder: Path, model) -> None:
    again = build_tiny_model(SMALL, cache_dir=tmp_path)
    assert again != folder
    assert (again / "tokenizer.json").read_bytes() == (folder / "tokenizer.json").read_bytes()
    other_model = transformers.AutoModelForCausalLM.from_pretrained(again, local_files_only=True)
    theirs = other_model.state_dict()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, theirs[name]), name


def test_env_var_sets_default_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.model.tiny import default_cache_dir

    monkeypatch.setenv("KYZEL_TINY_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path


def test_lost_race_uses_existing_folder(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another builder finishes while this one is building: a complete folder already sits at the
    # final path when os.replace runs, and this builder must use it and clean up after itself.
    import core.model.tiny as tm

    spec = replace(SMALL, seed=7)
    target = tmp_path / spec.folder_name()
    real_build = tm._build_model

    def build_while_another_finishes(spec_: TinySpec, tokenizer):
        shutil.copytree(folder, target)
        return real_build(spec_, tokenizer)

    monkeypatch.setattr(tm, "_build_model", build_while_another_finishes)
    assert build_tiny_model(spec, cache_dir=tmp_path) == target
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_build_leaves_global_rng_alone(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_model(replace(SMALL, seed=5), cache_dir=tmp_path)
    assert torch.equal(torch.rand(3), expected)


def test_llama_builds_and_generates(cache: Path) -> None:
    from core.model.tiny import load_tiny_model

    model, tokenizer = load_tiny_model(replace(SMALL, arch="llama"), cache)
    assert type(model).__name__ == "LlamaForCausalLM" and not model.training
    prompt_len, out = _generate(model, tokenizer)
    assert out.shape == (1, prompt_len + 8)
    # A llama folder loads through the generic tokenizer class, not Qwen2Tokenizer: same results.
    text = "<|im_start|>user\n" + "".join(HOSTILE) + "<|im_end|>\n"
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text
    assert tokenizer.encode("<|im_end|>", add_special_tokens=False) == [tokenizer.eos_token_id]


def test_invalid_specs_are_refused() -> None:
    with pytest.raises(ValueError):
        TinySpec(arch="gpt2")
    with pytest.raises(ValueError):
        TinySpec(vocab_size=100)
    with pytest.raises(ValueError):
        TinySpec(num_heads=3)


def test_import_does_not_load_torch() -> None:
    code = (
        "import sys, core.model.tiny\n"
        "heavy = {'torch', 'transformers', 'tokenizers'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
