"""GGUF files as ordinary Hugging Face folders: converted once, with a repaired tokenizer, cached.

`--model file.gguf` (or a folder holding one `.gguf` and no `config.json`) goes through
`converted_folder`: transformers dequantises the weights (any architecture it reads from GGUF),
the tokenizer is rebuilt or repaired by `core.model.tokenizer_repair` and self-tested, and both are
saved in bfloat16 into the platform cache (`$KYZEL_MODEL_CACHE`, else the user cache dir), in a
folder keyed by the file's content hash (or a caller's key, such as a package version). The
folder is written beside its final place and renamed when complete, so a killed conversion
leaves nothing that looks finished. Later loads read that folder in seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.paths import cache_home

Progress = Callable[[str], None]
DONE_FILE = "kyzel-converted.json"
# Bump when a conversion's output changes, so that old folders are not served for a new recipe.
CONVERTER_VERSION = 1
_STALE_TMP_SECONDS = 3600


class GGUFError(ValueError):
    """A GGUF file that cannot be converted; the message says what to do."""


def cache_root() -> Path:
    if env := os.environ.get("KYZEL_MODEL_CACHE"):
        return Path(env)
    return cache_home() / "models"


def gguf_in(path: Path) -> Path | None:
    """The GGUF file `path` names: itself, or the only `.gguf` in a folder without config.json."""
    if path.is_file():
        return path if path.suffix.lower() == ".gguf" else None
    if not path.is_dir() or (path / "config.json").is_file():
        return None
    found = sorted(path.glob("*.gguf"))
    if len(found) > 1:
        names = ", ".join(p.name for p in found[:4])
        raise GGUFError(f"{path} holds several GGUF files ({names}): pass the one to use")
    return found[0] if found else None


def file_key(path: Path) -> str:
    """The cache key of a GGUF file: its name and the start of its content hash. Hashes are
    remembered by path, size and modification time, so a later start does not read the file."""
    stat = path.stat()
    known = cache_root() / "hashes.json"
    where = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    try:
        memo = json.loads(known.read_text())
    except (OSError, ValueError):
        memo = {}
    if where not in memo:
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
        memo[where] = digest.hexdigest()[:16]
        known.parent.mkdir(parents=True, exist_ok=True)
        tmp = known.with_name(f".hashes-{os.getpid()}.json")
        tmp.write_text(json.dumps(memo, indent=1) + "\n")
        os.replace(tmp, known)
    return f"{path.stem}-{memo[where]}"


def converted_folder(
    path: Path, *, key: str | None = None, progress: Progress | None = None
) -> Path:
    """The Hugging Face folder of GGUF file `path`, converting it on first use."""
    from core.model.quiet import quiet_progress_bars

    report = progress or (lambda _message: None)
    root = cache_root()
    key = key or file_key(path)
    final = root / f"{key}-c{CONVERTER_VERSION}"
    if (final / DONE_FILE).is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(root)
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=root))
    tmp.chmod(0o755)
    try:
        report(f"converting {path.name} for transformers (once): reading the file")
        fields = read_fields(path)
        report("converting: the tokenizer")
        tokenizer, ends = _tokenizer(path, fields)
        report("converting: the weights (dequantised to bfloat16)")
        model = _model(path)
        model.generation_config.eos_token_id = ends
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        report("converting: saving")
        with quiet_progress_bars():
            model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        _mark_plain_tokenizer(tmp)
        seconds = time.perf_counter() - started
        (tmp / DONE_FILE).write_text(
            json.dumps({"source": str(path), "key": key, "seconds": round(seconds, 1)}) + "\n"
        )
        try:
            os.replace(tmp, final)
        except OSError:
            if not (final / DONE_FILE).is_file():
                raise
        report(f"converted {path.name} in {seconds:.0f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def read_fields(path: Path) -> dict[str, Any]:
    """The metadata of a GGUF file (architecture, tokenizer), as plain Python values."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(path)
    except (ValueError, OSError) as error:
        raise GGUFError(f"{path} is not a readable GGUF file: {error}") from error
    return {
        name: field.contents()
        for name, field in reader.fields.items()
        if name.startswith(("tokenizer.", "general."))
    }


def _tokenizer(path: Path, fields: dict[str, Any]) -> tuple[Any, list[int]]:
    from core.model.tokenizer_repair import (
        TokenizerBroken,
        fix_special_tokens,
        normalise_decoder,
        self_test,
        sentencepiece_from_gguf,
    )

    kind = fields.get("tokenizer.ggml.model")
    if kind == "llama":  # SentencePiece: transformers' conversion splits words into letters
        tokenizer = sentencepiece_from_gguf(path, fields)
    else:
        from transformers import AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        except (ValueError, KeyError, NotImplementedError) as error:
            raise GGUFError(f"cannot read the tokenizer of {path.name}: {error}") from error
        tokenizer = normalise_decoder(tokenizer)
    gguf_eos = fields.get("tokenizer.ggml.eos_token_id")
    ends = fix_special_tokens(tokenizer, [gguf_eos] if gguf_eos is not None else [])
    try:
        self_test(tokenizer, f"the tokenizer of {path.name}")
    except TokenizerBroken as error:
        raise GGUFError(str(error)) from None
    return tokenizer, ends


def _model(path: Path) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    from core.model.quiet import quiet_progress_bars

    try:
        with quiet_progress_bars(), _quiet_gguf_bar():
            model = AutoModelForCausalLM.from_pretrained(
                path.parent, gguf_file=path.name, dtype=torch.bfloat16
            )
    except (ValueError, KeyError, NotImplementedError) as error:
        raise GGUFError(
            f"transformers cannot read the weights of {path.name}: {str(error).splitlines()[0]}"
        ) from error
    # The weights are dequantised already; the GGUF "quantisation" left on the model only
    # stops save_pretrained.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model


@contextmanager
def _quiet_gguf_bar() -> Iterator[None]:
    """transformers draws its own tqdm bar while dequantising, on stderr, under a TUI."""
    from functools import partial

    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    bar = gguf_utils.tqdm
    gguf_utils.tqdm = partial(bar, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = bar


def _mark_plain_tokenizer(folder: Path) -> None:
    """Load the saved tokenizer.json as it is: a model-specific class (GemmaTokenizer...) would
    rebuild its own pipeline over the repaired one."""
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def _remove_stale_temps(root: Path) -> None:
    now = time.time()
    for tmp in root.glob(".*.tmp-*"):
        try:
            if now - tmp.stat().st_mtime > _STALE_TMP_SECONDS:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass
