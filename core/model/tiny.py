"""A tiny, randomly initialised causal LM of a real architecture, with a real tokenizer.

Tests, benchmarks and the app's demo mode need a model that loads and generates through exactly
the same transformers code paths as a real checkpoint (AutoTokenizer, AutoModelForCausalLM, chat
templates, generate), but in a moment and without a network. This module builds one locally: a
byte-level BPE tokenizer trained on this machine's own Python standard library sources, with the
ChatML special tokens and chat template, and a Qwen2 (or Llama) model of a few hundred thousand
parameters, saved as an ordinary `save_pretrained` folder and cached on disk.

What it deliberately does not do: download anything; train the model (its output is noise);
promise the same tokenizer on two machines (it learns from whichever stdlib is installed, so a
build is deterministic on one machine only); or keep non-NFC text byte-exact (like Qwen2's own
tokenizer, and because AutoTokenizer imposes that pipeline, text is NFC-normalised first).
torch, transformers and tokenizers are imported inside the functions, so importing this module
stays cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sysconfig
import tempfile
import time
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.model.quiet import quiet_progress_bars
from core.model.templates import CHATML_TEMPLATE
from core.paths import cache_home

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

# Bump when the output of a build changes for the same spec, so that old cache folders are not
# served for a new recipe.
BUILDER_VERSION = 2
SPEC_FILE = "kyzel-tiny.json"
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
# Qwen2's split (GPT-2's with single digits and newline runs kept apart), copied so that the
# tokenizer needs no download and no transformers internals.
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_STALE_TMP_SECONDS = 3600
# A few turns in kyzel-tui's format, so that the tokenizer learns its tags as real coder
# tokenizers learn markup: a tag then costs two or three tokens, as with a real model.
_TURN_PRIMER = (
    "<thought>Look at the folder first.</thought>\n<code>import os\nprint(os.listdir())</code>\n"
    "<thought>The file is there; read it.</thought>\n<code>text = open('a.txt').read()</code>\n"
    "<thought>That answers the question.</thought>\n<answer>It holds 3 lines.</answer>\n"
) * 200
_BYTE_ALPHABET = 256


@dataclass(frozen=True)
class TinySpec:
    vocab_size: int = 2048  # BPE vocabulary including special tokens
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 128
    max_positions: int = 4096
    arch: str = "qwen2"  # "qwen2" or "llama"
    seed: int = 0
    corpus_bytes: int = 4_000_000  # how much local text trains the tokenizer

    def __post_init__(self) -> None:
        if self.arch not in ("qwen2", "llama"):
            raise ValueError(f"arch must be 'qwen2' or 'llama', not {self.arch!r}")
        if self.vocab_size < _BYTE_ALPHABET + len(SPECIAL_TOKENS):
            raise ValueError(f"vocab_size must be at least {_BYTE_ALPHABET + len(SPECIAL_TOKENS)}")
        if self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads:
            raise ValueError("hidden_size must divide by num_heads, num_heads by num_kv_heads")

    def folder_name(self) -> str:
        blob = json.dumps({**asdict(self), "builder": BUILDER_VERSION}, sort_keys=True)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:10]
        return f"{self.arch}-v{self.vocab_size}-h{self.hidden_size}-l{self.num_layers}-{digest}"


def default_cache_dir() -> Path:
    if env := os.environ.get("KYZEL_TINY_CACHE"):
        return Path(env)
    return cache_home() / "tiny-models"


def build_tiny_model(spec: TinySpec = TinySpec(), cache_dir: str | Path | None = None) -> Path:
    """Build (or reuse from the cache) and return a folder that AutoTokenizer.from_pretrained and
    AutoModelForCausalLM.from_pretrained load."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    final = root / spec.folder_name()
    if (final / SPEC_FILE).is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(root)
    # A private sibling folder, renamed into place only when complete: a killed build leaves
    # nothing that looks finished, and concurrent builders never see each other's halves.
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=root))
    tmp.chmod(0o755)  # mkdtemp's 0700 would survive the rename
    try:
        tokenizer = _build_tokenizer(spec)
        with quiet_progress_bars():
            _build_model(spec, tokenizer).save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        # Written last: its presence is what marks a folder as complete.
        (tmp / SPEC_FILE).write_text(
            json.dumps({"spec": asdict(spec), "builder": BUILDER_VERSION}, indent=2) + "\n"
        )
        try:
            os.replace(tmp, final)
        except OSError:
            if not (final / SPEC_FILE).is_file():  # not a lost race: a real error
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing left there after a successful rename
    return final


def load_tiny_model(
    spec: TinySpec = TinySpec(), cache_dir: str | Path | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """The model (CPU, float32, eval mode) and tokenizer, built first if not cached."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = build_tiny_model(spec, cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    with quiet_progress_bars():
        model = AutoModelForCausalLM.from_pretrained(
            folder, local_files_only=True, dtype=torch.float32
        )
    return model.eval(), tokenizer


def _remove_stale_temps(root: Path) -> None:
    # Left by killed builds. Only old ones: a young one may belong to a builder still running.
    for path in root.glob(".*.tmp-*"):
        with suppress(OSError):
            if path.stat().st_mtime < time.time() - _STALE_TMP_SECONDS:
                shutil.rmtree(path, ignore_errors=True)


def _stdlib_corpus(limit: int) -> list[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for folder, subfolders, names in os.walk(stdlib):
        # Installed packages are not the stdlib, can be huge, and vary between environments.
        subfolders[:] = [d for d in subfolders if d not in ("site-packages", "dist-packages")]
        files += [Path(folder, name) for name in names if name.endswith(".py")]
    files.sort()
    texts: list[str] = []
    left = limit
    for path in files:
        if left <= 0:
            break
        data = path.read_bytes()[:left]
        left -= len(data)
        # A few stdlib files are deliberately not UTF-8 (encoding tests); the bytes still count.
        texts.append(data.decode("utf-8", errors="replace"))
    if not texts:
        raise RuntimeError(f"no Python sources under {stdlib} to train the tiny tokenizer on")
    return texts


def _build_tokenizer(spec: TinySpec) -> PreTrainedTokenizerFast:
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    # The same pipeline as transformers' Qwen2Tokenizer, which AutoTokenizer imposes on any
    # qwen2 folder whatever tokenizer.json says: merges learnt under another split would be
    # applied wrongly. Byte level end to end, so nothing is unknown and any NFC text round-trips.
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator([_TURN_PRIMER] + _stdlib_corpus(spec.corpus_bytes), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        chat_template=CHATML_TEMPLATE,
        # The default cleanup rewrites " ." and " 's", which would break exact round trips.
        clean_up_tokenization_spaces=False,
        model_max_length=spec.max_positions,
    )


def _build_model(spec: TinySpec, tokenizer: PreTrainedTokenizerFast) -> PreTrainedModel:
    import torch
    import transformers as tf

    config_cls, model_cls = {
        "qwen2": (tf.Qwen2Config, tf.Qwen2ForCausalLM),
        "llama": (tf.LlamaConfig, tf.LlamaForCausalLM),
    }[spec.arch]
    ids = {
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": None,
    }
    config = config_cls(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=spec.max_positions,
        tie_word_embeddings=True,
        dtype="float32",
        **ids,
    )
    # Forked so that building leaves the caller's random state (a test's, a sampler's) alone.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        model = model_cls(config).to(torch.float32)
    model.generation_config = tf.GenerationConfig(**ids)
    return model.eval()
