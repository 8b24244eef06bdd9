"""What TRL 1.15 needs and does not find on a CPU-only machine: its token-scoring function.

TRL 1.15's SFT, DPO and KTO trainers score tokens through a fused LM head whose kernel,
`trl.kernels.ChunkedLogProbFunction`, is written in Triton. Where Triton is missing (CPU-only torch
wheels) TRL leaves it None and the first training step fails with "'NoneType' object has no
attribute 'apply'". `ensure_loss_kernel` puts a plain-torch function with the same inputs and
outputs in its place; where Triton is present it changes nothing.
"""

from __future__ import annotations


class _TorchLogProbs:
    """TRL's fused LM-head log-probabilities in plain torch, for machines without Triton.

    The same outputs as the kernel, computed from the full logits of the scored positions: more
    memory than the kernel's tiles, nothing else differs.
    """

    @staticmethod
    def apply(hidden, weight, bias, targets, temperature, chunk_size, softcap, scale, outputs):
        import torch

        logits = hidden @ weight.t()
        if bias is not None:
            logits = logits + bias
        logits = logits.float() * (1.0 if scale is None else scale)
        if softcap is not None:
            logits = softcap * torch.tanh(logits / softcap)
        logits = logits / temperature
        log_z = torch.logsumexp(logits, dim=-1)
        log_probs = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - log_z
        entropy = sq = mean = top1 = None
        if "entropy" in outputs:
            entropy = log_z - (logits.softmax(-1) * logits).sum(-1)
        with torch.no_grad():
            if "log_sum_sq_probs" in outputs:
                sq = torch.logsumexp(2 * (logits - log_z.unsqueeze(-1)), dim=-1)
            if "mean_logits" in outputs:
                mean = logits.mean(-1)
            if "is_top1" in outputs:
                top1 = logits.argmax(-1) == targets  # the first maximum, as the kernel counts it
        return log_probs, entropy, sq, mean, top1


def ensure_loss_kernel() -> None:
    """Give TRL its token-scoring function where Triton could not provide it."""
    import trl.trainer.utils as trl_utils

    if getattr(trl_utils, "_ChunkedLogProbFunction", _TorchLogProbs) is None:
        trl_utils._ChunkedLogProbFunction = _TorchLogProbs
