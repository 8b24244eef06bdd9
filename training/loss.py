"""Log-probabilities of chosen tokens, computed so that long chats fit in memory.

A causal LM's logits for a whole chat are (tokens × vocabulary) floats: 2,048 tokens of a
49,152-token vocabulary are 400 MB, and training keeps them (and their softmax) for the backward
pass. Here the model's body gives the hidden states; the LM head and the log-softmax run only on
the positions whose next token is scored (the loss mask), `CHUNK` positions at a time, and while
training each chunk is recomputed in the backward pass (activation checkpointing) instead of
kept. So at most one chunk's logits exist at any time. Works on plain transformers models and on
PEFT models (the LoRA layers sit inside the body; `disable_adapter()` still applies).
"""

from __future__ import annotations

from typing import Any

CHUNK = 256


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
    from torch.utils.checkpoint import checkpoint

    decoder, head, softcap = _parts(model)
    device = head.weight.device
    tensor = torch.tensor([ids], device=device)
    wanted = torch.tensor(mask[1:], device=device, dtype=torch.bool)
    if not bool(wanted.any()):
        return torch.zeros(0, device=device)
    hidden = decoder(input_ids=tensor, attention_mask=torch.ones_like(tensor)).last_hidden_state
    scored = hidden[0, :-1][wanted]
    targets = tensor[0, 1:][wanted]
    parts = []
    for start in range(0, scored.shape[0], chunk):
        h, t = scored[start : start + chunk], targets[start : start + chunk]
        if torch.is_grad_enabled():
            parts.append(checkpoint(_chunk_logprobs, head, h, t, softcap, use_reentrant=False))
        else:
            parts.append(_chunk_logprobs(head, h, t, softcap))
    return torch.cat(parts)
