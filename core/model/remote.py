"""Generation on a serving engine (llama.cpp, vLLM, SGLang) through its OpenAI-compatible API.

`RemoteServer.connect` asks the server what it is and which model it serves; `start_generation`
streams one turn into the same `Generation` interface as local generation (iterate for text,
`cancel()`, `result()` for a `GeneratedTurn`). The grammar goes in the engine's own form, built
from the single turn definition: GBNF plus a ban on control tokens for llama.cpp, Lark with the
`%llguidance` header for vLLM and SGLang (a server on another grammar backend refuses it instead
of silently admitting special tokens inside a body).

Every reply is checked with the local parser: a server that did not enforce the grammar is an
error, never a stored turn. A reply cut by `max_tokens` is closed by the client (the open field's
closing tag, and an empty answer if the thought was cut) and marked `cut` in its settings; such a
turn is never a good training row. Closing the stream cancels the request on the server; a server
that dies mid-turn, or reports an error after it began the reply, gives back the partial turn as a
cancelled one with `interrupted` saying what happened (the app keeps it as a stopped turn).
`core.model.backend.RemoteBackend` puts this client behind the same seam as a local model.

The API key comes from `KYZEL_API_KEY` and only ever goes into the request header.
Knows nothing of sessions or the UI; imports no Textual.
"""

from __future__ import annotations

import json
import os
import queue
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from core.model.generate import GeneratedTurn, Generation, GenerationStats, Sampling
from grammars.gbnf import gbnf
from grammars.rest import PrefixError, closing_text, locate
from grammars.serving import llguidance_grammar
from grammars.turn import TurnParseError, parse

ENGINES = ("llamacpp", "vllm", "sglang")
API_KEY_VARIABLE = "KYZEL_API_KEY"


class RemoteError(RuntimeError):
    """A failure talking to the server, worded for the user (one line, says what to do)."""


class GrammarNotEnforced(RemoteError):
    """The server sent a reply that is not a turn: it did not apply the grammar."""

    def __init__(self, message: str, raw: str):
        super().__init__(message)
        self.raw = raw


@dataclass
class RemoteServer:
    """A server that serves one model, and what was learnt about it on connecting."""

    url: str
    model: str
    engine: str
    banned_tokens: list[int] = field(default_factory=list)
    """Control tokens that llama.cpp's GBNF would admit by their text: banned per request."""
    timeout: float = 120.0

    @classmethod
    def connect(
        cls, url: str, model: str | None = None, engine: str = "auto", timeout: float = 120.0
    ) -> RemoteServer:
        """Ask the server what it is and what it serves; raises `RemoteError` with what to do."""
        if engine != "auto" and engine not in ENGINES:
            raise RemoteError(f"unknown engine {engine!r}: use auto, {', '.join(ENGINES)}")
        url = url.rstrip("/").removesuffix("/v1")
        server = cls(url, model or "", engine, timeout=timeout)
        served = [entry.get("id", "") for entry in server._get("/v1/models").get("data", [])]
        if not served:
            raise RemoteError(f"the server at {url} serves no model")
        if model is None:
            server.model = served[0]
        elif model not in served:
            raise RemoteError(
                f"the server at {url} does not serve the model {model!r}; it serves "
                f"{', '.join(served)}: pass one of these as --server-model"
            )
        if engine == "auto":
            server.engine = server._detect()
        if server.engine == "llamacpp":
            server.banned_tokens = server._control_tokens()
        return server

    def _client(self) -> Any:
        import httpx

        headers = {}
        key = os.environ.get(API_KEY_VARIABLE)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return httpx.Client(
            base_url=self.url, headers=headers, timeout=httpx.Timeout(10.0, read=self.timeout)
        )

    def _get(self, path: str, missing_ok: bool = False) -> dict:
        import httpx

        try:
            with self._client() as client:
                response = client.get(path)
        except httpx.HTTPError as error:
            raise RemoteError(_unreachable(self.url, error)) from None
        if missing_ok and response.status_code in (404, 405):
            return {}
        _check_status(response, self.url)
        try:
            return response.json()
        except ValueError:
            return {}

    def _post(self, path: str, body: dict) -> dict:
        import httpx

        try:
            with self._client() as client:
                response = client.post(path, json=body)
        except httpx.HTTPError as error:
            raise RemoteError(_unreachable(self.url, error)) from None
        _check_status(response, self.url)
        return response.json()

    def _detect(self) -> str:
        props = self._get("/props", missing_ok=True)
        if "default_generation_settings" in props or "chat_template" in props:
            return "llamacpp"
        if "version" in self._get("/version", missing_ok=True):
            return "vllm"
        if self._get("/get_server_info", missing_ok=True):
            return "sglang"
        raise RemoteError(
            f"cannot tell which engine serves {self.url}: pass --engine llamacpp, vllm or sglang"
        )

    def _control_tokens(self) -> list[int]:
        """Ids of the model's control tokens, less its end-of-sequence token.

        llama.cpp matches a control token against GBNF by its text but leaves that text out of
        the reply, so grammar and reply would disagree: they are banned. The vocabulary is read
        in one /detokenize call, entries separated by the EOS token (no other entry holds its
        text); an entry shaped like markup that plain tokenizing does not give back is a control
        token. The EOS token stays: the grammar admits it only once the turn is whole.
        """
        eos = self._get("/props", missing_ok=True).get("eos_token") or ""
        meta = self._get("/v1/models")["data"][0].get("meta") or {}
        size = int(meta.get("n_vocab") or 0)
        (separator, *more) = self._tokenize(eos, special=True) if eos else [None, None]
        if more or not size:
            raise RemoteError(
                f"cannot read the control tokens of the server at {self.url} (no EOS token or "
                "vocabulary size in /props and /v1/models): is it llama.cpp's llama-server?"
            )
        ids = [token for token in range(size) if token != separator]
        interleaved = [part for token in ids for part in (token, separator)]
        pieces = self._post("/detokenize", {"tokens": interleaved})["content"].split(eos)
        markup = re.compile(r"<[^<>]+>|\[[^\[\]]+\]")
        return [
            token
            for token, piece in zip(ids, pieces, strict=False)
            if markup.fullmatch(piece) and self._tokenize(piece, special=False) != [token]
        ]

    def _tokenize(self, text: str, special: bool) -> list[int]:
        return self._post("/tokenize", {"content": text, "parse_special": special})["tokens"]

    def start_generation(
        self,
        messages: list[dict[str, str]],
        sampling: Sampling | None = None,
        *,
        prefix: str = "",
        constrained: bool = True,
    ) -> RemoteGeneration:
        """Start streaming one turn (after `prefix`, if given) for the chat `messages`.

        Unconstrained (benchmarks, like local generation's `constrained=False`): no grammar, and a
        reply that does not parse comes back with `parse_error` instead of raising."""
        sampling = sampling or Sampling()
        if prefix:
            try:
                locate(prefix)
            except PrefixError as error:
                raise ValueError(f"the prefix is not the start of a valid turn: {error}") from None
        path, body = self._request(messages, sampling, prefix, constrained)
        return RemoteGeneration(self, path, body, sampling, prefix, constrained)

    def _request(
        self, messages: list[dict], sampling: Sampling, prefix: str, constrained: bool
    ) -> tuple[str, dict]:
        body: dict[str, Any] = {
            "model": self.model,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": sampling.max_new_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
        }
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if constrained:
            body |= self._grammar(prefix)
        if not prefix:
            return "/v1/chat/completions", body | {"messages": messages}
        if self.engine == "llamacpp":
            prompt = self._post("/apply-template", {"messages": messages})["prompt"]
            return "/v1/completions", body | {"prompt": prompt + prefix}
        # vLLM and SGLang continue a final assistant message with the chat template's own markup.
        continued = [*messages, {"role": "assistant", "content": prefix}]
        extra = {"continue_final_message": True, "add_generation_prompt": False}
        return "/v1/chat/completions", body | {"messages": continued} | extra

    def _grammar(self, prefix: str) -> dict[str, Any]:
        """The request fields that hold the grammar for the rest of the turn, in this engine's
        own form."""
        if self.engine == "llamacpp":
            fields: dict[str, Any] = {"grammar": gbnf(prefix)}
            if self.banned_tokens:
                fields["logit_bias"] = [[token, False] for token in self.banned_tokens]
            return fields
        if self.engine == "vllm":
            return {"structured_outputs": {"grammar": llguidance_grammar(prefix)}}
        return {"ebnf": llguidance_grammar(prefix)}


class RemoteGeneration(Generation):
    """One turn streaming from a server; `cancel()` closes the stream, which ends the request."""

    def __init__(
        self,
        server: RemoteServer,
        path: str,
        body: dict,
        sampling: Sampling,
        prefix: str,
        constrained: bool = True,
    ):
        self._constrained = constrained
        self._response: Any = None
        self._response_lock = threading.Lock()
        self._server, self._path, self._body = server, path, body
        self._sampling = sampling
        super().__init__(self._run, prefix)

    def cancel(self) -> None:
        super().cancel()
        with self._response_lock:
            if self._response is not None:
                self._response.close()

    def _run(self, chunks: queue.Queue, cancel: threading.Event) -> GeneratedTurn:
        import httpx

        stats = GenerationStats()
        settings = asdict(self._sampling) | {
            "engine": self._server.engine,
            "server_model": self._server.model,
        }
        started = time.perf_counter()
        reply = _Reply()
        try:
            with self._server._client() as client:
                with client.stream("POST", self._path, json=self._body) as response:
                    with self._response_lock:
                        self._response = response
                    if cancel.is_set():
                        response.close()
                    if response.status_code != 200:
                        response.read()
                        _check_status(response, self._server.url)
                    for text in reply.read(response.iter_lines(), cancel):
                        if stats.time_to_first_token is None:
                            stats.time_to_first_token = time.perf_counter() - started
                        chunks.put(text)
        except (httpx.HTTPError, RuntimeError) as error:
            nothing_yet = not reply.text and reply.finish is None
            if isinstance(error, RemoteError) and nothing_yet:
                raise
            if not cancel.is_set():
                if nothing_yet:
                    raise RemoteError(_unreachable(self._server.url, error)) from None
                # What was written so far is kept (as a stopped turn), with what went wrong.
                why = str(error) if isinstance(error, RemoteError) else _first_line(error)
                settings["interrupted"] = f"the server stopped mid-turn: {why}"
        stats.seconds = time.perf_counter() - started
        _fill_stats(stats, reply.usage)
        raw = self.prefix + reply.text
        if cancel.is_set() or "interrupted" in settings or reply.finish is None:
            if reply.finish is None and not cancel.is_set():
                settings.setdefault("interrupted", "the server ended the stream mid-turn")
            return GeneratedTurn(raw, None, stats, cancelled=True, settings=settings)
        if not self._constrained:
            return _unchecked(raw, stats, settings | {"cut": reply.finish == "length"})
        if reply.finish == "length":
            try:
                closing = closing_text(raw)
            except PrefixError as error:
                raise GrammarNotEnforced(_not_enforced(error), raw) from None
            chunks.put(closing)
            raw += closing
            settings["cut"] = True
        try:
            fields = parse(raw)
        except TurnParseError as error:
            raise GrammarNotEnforced(_not_enforced(error), raw) from None
        return GeneratedTurn(raw, fields, stats, settings=settings)


def _unchecked(raw: str, stats: GenerationStats, settings: dict) -> GeneratedTurn:
    turn = GeneratedTurn(raw, None, stats, settings=settings)
    try:
        turn.fields = parse(raw)
    except TurnParseError as error:
        turn.parse_error = str(error)
    return turn


class _Reply:
    """Reads a server-sent-event stream: text deltas, the finish reason, usage, errors."""

    def __init__(self) -> None:
        self.text = ""
        self.finish: str | None = None
        self.usage: dict = {}

    def read(self, lines: Any, cancel: threading.Event) -> Any:
        for line in lines:
            if cancel.is_set():
                return
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                event = json.loads(data)
            except ValueError:
                raise RemoteError(
                    "the server's reply is not an OpenAI-style event stream: check --server"
                ) from None
            if "error" in event:
                raise RemoteError(f"the server reported an error mid-reply: {_message(event)}")
            if event.get("usage"):
                self.usage = event["usage"] | {"timings": event.get("timings", {})}
            for choice in event.get("choices") or []:
                delta = choice.get("delta", {}).get("content") or choice.get("text") or ""
                if delta:
                    self.text += delta
                    yield delta
                if choice.get("finish_reason"):
                    self.finish = choice["finish_reason"]


def _fill_stats(stats: GenerationStats, usage: dict) -> None:
    stats.prompt_tokens = int(usage.get("prompt_tokens") or 0)
    stats.output_tokens = int(usage.get("completion_tokens") or 0)
    generating = stats.seconds - (stats.time_to_first_token or 0.0)
    if stats.output_tokens > 1 and generating > 0:
        stats.tokens_per_second = (stats.output_tokens - 1) / generating


def _check_status(response: Any, url: str) -> None:
    if response.status_code == 200:
        return
    try:
        detail = _message(response.json())
    except ValueError:
        detail = response.text[:200]
    if response.status_code == 401:
        raise RemoteError(
            f"the server at {url} refused the API key: set {API_KEY_VARIABLE} to a key it accepts"
        )
    raise RemoteError(f"the server at {url} answered HTTP {response.status_code}: {detail}")


def _message(payload: Any) -> str:
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    if isinstance(error, dict):
        error = error.get("message", error)
    return _first_line(error)


def _first_line(value: Any) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else type(value).__name__


def _unreachable(url: str, error: BaseException) -> str:
    return (
        f"cannot reach the server at {url} ({_first_line(error)}): check that it is running "
        "and that --server names it"
    )


def _not_enforced(error: Exception) -> str:
    return (
        f"the server did not enforce the grammar ({error}); the reply was not stored: check "
        "that --engine names the engine it runs"
    )
