"""Log-probabilities of chosen tokens, computed so that long chats fit in memory.

A causal LM's logits for a whole chat are (tokens × vocabulary) floats: 2,048 tokens of a
49,152-token vocabulary are 400 MB, and training keeps them (and their softmax) for the backward
pass. Here the model's body gives the hidden states; the LM head and the log-softmax run only on
the positions whose next token is scored (the loss mask), `CHUNK` positions at a time, and while
training each chunk is recomputed in the backward pass (activation checkpointing) instead of
kept. So at most one chunk's logits exist at any time. Works on plain transformers models and on
PEFT models (the LoRA layers sit inside the body; `disable_adapter()` still applies).

`shared_logprobs` scores sequences that start alike (a DPO pair) in one forward pass, and
`computing_in` runs the forward passes of a training stage under autocast (bfloat16 on CPUs whose
bfloat16 matrix products are faster: `training.trainer.compute_dtype`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

CHUNK = 256
_AUTOCAST: ContextVar[tuple[str, Any] | None] = ContextVar("autocast", default=None)


@contextmanager
def computing_in(device: str, dtype: Any) -> Iterator[None]:
    """Within: the forward passes of `token_logprobs` and `shared_logprobs` run under autocast
    to `dtype` (a torch dtype; None: as the model is loaded). The backward pass runs in the types
    its forward used; the weights and their gradients keep their own type."""
    token = _AUTOCAST.set((device, dtype) if dtype is not None else None)
    try:
        yield
    finally:
        _AUTOCAST.reset(token)


def _forward_context() -> Any:
    how = _AUTOCAST.get()
    if how is None:
        return nullcontext()
    import torch

    return torch.autocast(how[0], dtype=how[1])


def _parts(model: Any) -> tuple[Any, Any, float | None]:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    softcap = getattr(base.config, "final_logit_softcapping", None)
    return base.get_decoder(), base.get_output_embeddings(), softcap


def _chunk_logprobs(head: Any, hidden: Any, targets: Any, softcap: float | None) -> Any:
    import torch

    logits = head(hidden).float()
    if softcap:
        logits = softcap * torch.tanh(logits / softcap)
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def token_logprobs(model: Any, ids: list[int], mask: list[int], chunk: int = CHUNK) -> Any:
    """log p of each token whose mask is 1 (the first token is never scored), a 1-D tensor;
    differentiable when gradients are enabled."""
    import torch

    decoder, head, softcap = _parts(model)
    device = head.weight.device
    tensor = torch.tensor([ids], device=device)
    wanted = torch.tensor(mask[1:], device=device, dtype=torch.bool)
    if not bool(wanted.any()):
        return torch.zeros(0, device=device)
    with _forward_context():
        hidden = decoder(input_ids=tensor, attention_mask=torch.ones_like(tensor))
        scored = hidden.last_hidden_state[0, :-1][wanted]
        return _score(head, scored, tensor[0, 1:][wanted], softcap, chunk)


SHARED_MIN = 32
"""Sequences sharing fewer leading tokens than this are scored one by one."""


def shared_logprobs(model: Any, seqs: list[tuple[list[int], list[int]]], chunk: int = CHUNK):
    """`[token_logprobs(model, ids, mask) for ids, mask in seqs]`, with the tokens the sequences
    share at their start run once.

    A DPO pair's chosen and rejected turns follow the same prompt (the fixed prefix of example
    exchanges, then the session so far): most of the pair's tokens. Here the pair is one sequence,
    the shared start followed by each sequence's own tail, each tail placed (position ids) where
    it stands in its own sequence and seeing (attention mask) only the shared start and itself.
    Each token then sees exactly what it sees alone, so the log-probabilities and their gradients
    are the same up to float rounding, and the shared start's forward and backward run once. Used
    where that mask means what it says: every layer attends to the whole context (no sliding
    window) through the eager or SDPA attention; elsewhere, and for sequences sharing fewer than
    `SHARED_MIN` tokens, one by one."""
    import torch

    shared = _shared_start(seqs)
    if len(seqs) < 2 or shared < SHARED_MIN or not _takes_tree_mask(model):
        return [token_logprobs(model, ids, mask, chunk) for ids, mask in seqs]
    decoder, head, softcap = _parts(model)
    device = head.weight.device
    packed, positions, where = list(seqs[0][0][:shared]), list(range(shared)), []
    for ids, _ in seqs:
        own = range(len(packed), len(packed) + len(ids) - shared)
        where.append([*range(shared), *own])
        packed += ids[shared:]
        positions += range(shared, len(ids))
    size = len(packed)
    allowed = torch.zeros(size, size, dtype=torch.bool, device=device)
    allowed[:shared, :shared] = True
    start = shared
    for ids, _ in seqs:
        end = start + len(ids) - shared
        allowed[start:end, :shared] = True
        allowed[start:end, start:end] = True
        start = end
    allowed &= torch.ones(size, size, dtype=torch.bool, device=device).tril()
    with _forward_context():
        hidden = decoder(
            input_ids=torch.tensor([packed], device=device),
            attention_mask=_as_mask(model, allowed)[None, None],
            position_ids=torch.tensor([positions], device=device),
        ).last_hidden_state[0]
        out = []
        for (ids, mask), index in zip(seqs, where, strict=True):
            wanted = torch.tensor(mask[1:], device=device, dtype=torch.bool)
            if not bool(wanted.any()):
                out.append(torch.zeros(0, device=device))
                continue
            rows = torch.tensor(index[:-1], device=device)[wanted]
            targets = torch.tensor(ids[1:], device=device)[wanted]
            out.append(_score(head, hidden[rows], targets, softcap, chunk))
    return out


def _shared_start(seqs: list[tuple[list[int], list[int]]]) -> int:
    """How many leading tokens all the sequences share, leaving each at least one of its own."""
    if not seqs:
        return 0
    first, limit = seqs[0][0], min(len(ids) for ids, _ in seqs) - 1
    shared = 0
    while shared < limit and all(ids[shared] == first[shared] for ids, _ in seqs):
        shared += 1
    return shared


def _takes_tree_mask(model: Any) -> bool:
    """Whether a custom 4-D attention mask reaches every layer as given: full attention in every
    layer, through eager or SDPA attention (flash attention takes no such mask)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base.config, "text_config", None) or base.config
    if getattr(config, "_attn_implementation", None) not in ("eager", "sdpa"):
        return False
    kinds = set(getattr(config, "layer_types", None) or ())
    if kinds:
        return kinds == {"full_attention"}
    window = getattr(config, "sliding_window", None)
    return window is None or getattr(config, "use_sliding_window", True) is False


def _as_mask(model: Any, allowed: Any) -> Any:
    """The mask as the attention takes it: booleans for SDPA, 0 / the dtype's minimum added to
    the scores for eager attention."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if base.config._attn_implementation == "sdpa":
        return allowed
    dtype = base.get_input_embeddings().weight.dtype
    dtype = dtype if dtype.is_floating_point else torch.float32
    blocked = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return blocked.masked_fill(~allowed, torch.finfo(dtype).min)


def _score(head: Any, scored: Any, targets: Any, softcap: float | None, chunk: int) -> Any:
    """log p of `targets` from the hidden states `scored`, `chunk` positions at a time."""
    import torch
    from torch.utils.checkpoint import checkpoint

    parts = []
    for start in range(0, scored.shape[0], chunk):
        h, t = scored[start : start + chunk], targets[start : start + chunk]
        if torch.is_grad_enabled():
            parts.append(checkpoint(_chunk_logprobs, head, h, t, softcap, use_reentrant=False))
        else:
            parts.append(_chunk_logprobs(head, h, t, softcap))
    return torch.cat(parts)
