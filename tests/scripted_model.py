"""A scripted model: the tiny model made to write a chosen text, through the real generate path.

A forward hook on the real (tiny) transformers model overwrites the logits of the last position so
that the next token is the first token of whatever remains of the script; the grammar's mask and
the sampler run as usual. It follows the text, not a token list, so that the grammar's forced tags
(which may be spelled with other tokens than the script's) do not throw it off. It compares bytes,
through llguidance's byte view of the tokenizer, so a character split across tokens is no trouble.
"""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def scripted(model, tokenizer, text: str | list[str], on_step=None):
    """While active, `model` writes `text` then EOS. `on_step(n)` is called before each step.

    With a list, each generation (each prompt fed whole) writes the next text of the list; the
    caller may append to the list meanwhile (the rest of a turn it stopped, say).
    """
    texts = [text] if isinstance(text, str) else text  # a list may grow while it is used
    from grammars.constraint import ll_tokenizer

    ll = ll_tokenizer(tokenizer)
    special = set(tokenizer.all_special_ids)
    pieces = {ll.decode_bytes([i]): i for i in range(ll.vocab_size) if i not in special}
    longest = max(map(len, pieces))
    fed: list[int] = []
    calls = {"n": 0, "script": -1}

    def hook(module, args, kwargs, output):
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        if input_ids.shape[-1] > 1:  # a whole prompt: a new generation starts
            calls["script"] = min(calls["script"] + 1, len(texts) - 1)
            fed.clear()
        else:
            fed.extend(int(t) for t in input_ids[0].tolist())
        calls["n"] += 1
        script = texts[calls["script"]].encode("utf-8")
        if on_step is not None:
            on_step(calls["n"] - 1)
        written = ll.decode_bytes(fed)
        remaining = script[len(written) :] if script.startswith(written) else b""
        # The longest token that the rest of the script starts with (it may start mid-character).
        target = next(
            (
                pieces[remaining[:n]]
                for n in range(min(longest, len(remaining)), 0, -1)
                if remaining[:n] in pieces
            ),
            tokenizer.eos_token_id,
        )
        logits = output.logits
        logits[:, -1, :] = -1e4
        logits[:, -1, target] = 1e4
        return output

    handle = model.register_forward_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()
