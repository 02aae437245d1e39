"""Ollama through its native /api/chat: raw base64 images, `format` = JSON schema, NDJSON streaming."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from functools import cached_property
from typing import Any

import httpx

from ..errors import EngineError, ModelNotFound, Unsupported
from . import http
from .base import DEFAULT_MAX_PIXELS, Capabilities, Chunk, Reply, Request, Stats

__all__ = ["OllamaEngine", "ollama_host", "ollama_reachable", "default_ollama_model"]

# Settings Ollama takes at the top level of a request, not inside "options".
_TOP_LEVEL = {"keep_alive", "think"}
# Fields oculo fills from the request itself (top level or in "options"), and where the caller sets them instead.
_OWN_FIELDS = {"model": "the model (-m)", "messages": "the prompt and images", "stream": "streaming (--stream)",
               "format": "a schema (--schema)", "options": "separate -o KEY VALUE pairs",
               "num_predict": "--max-tokens", "temperature": "--temperature", "seed": "--seed", "stop": "--stop"}
# Families to prefer when the user names no model, best general-purpose first.
_PREFERRED = ("qwen2.5vl", "gemma3", "llama3.2-vision", "minicpm-v", "qwen2-vl", "llava", "granite3.2-vision",
              "moondream")


def ollama_host(host: str | None = None) -> str:
    """OLLAMA_HOST accepts `host`, `host:port` or a full URL, as the ollama CLI does."""
    h = (host or os.environ.get("OLLAMA_HOST") or "127.0.0.1:11434").strip().rstrip("/")
    if "://" not in h:
        h = "http://" + h
    scheme, rest = h.split("://", 1)
    hostpart = rest.split("/", 1)[0]
    if hostpart.startswith("["):
        has_port = "]:" in hostpart
    else:
        has_port = ":" in hostpart
    if not has_port:
        h = f"{scheme}://{hostpart or '127.0.0.1'}:11434" + (rest[len(hostpart):] if "/" in rest else "")
    return h.replace("://0.0.0.0", "://127.0.0.1")


def ollama_reachable(host: str | None = None, timeout: float = 0.5) -> bool:
    try:
        r = httpx.get(ollama_host(host) + "/api/version", timeout=timeout, trust_env=False)
        return r.status_code == 200
    except httpx.HTTPError:
        return False


def _pull_hint(model: str) -> str:
    return f"model {model!r} is not pulled in Ollama; run `ollama pull {model}`"


class OllamaEngine(http.ServerEngine):
    name = "ollama"

    def __init__(self, model: str, *, host: str | None = None, keep_alive: str | int | None = None,
                 parallel: int | None = None, transport: httpx.BaseTransport | None = None,
                 timeout: httpx.Timeout | None = None, max_pixels: int | None = None) -> None:
        super().__init__(model, max_pixels=max_pixels)
        self.host = ollama_host(host)
        self.where = f"Ollama at {self.host}"
        self.keep_alive = keep_alive
        # Ollama's server decides its own parallelism (OLLAMA_NUM_PARALLEL); we match it to keep it busy.
        self.parallel = parallel or int(os.environ.get("OLLAMA_NUM_PARALLEL", "1") or 1)
        self.client = http.make_client(self.host, transport, timeout=timeout)

    # ---- requests with Ollama's error semantics --------------------------------------------------
    def _send(self, path: str, payload: dict[str, Any], *, stream: bool) -> httpx.Response:
        for attempt in http.retrying():
            with attempt:
                try:
                    req = self.client.build_request("POST", path, json=payload)
                    resp = self.client.send(req, stream=stream)
                except httpx.TransportError as e:
                    raise http.unreachable("Ollama", self.host, e,
                                           "start it with `ollama serve` or point OLLAMA_HOST at it") from None
                if resp.status_code in http.BUSY_STATUS:
                    resp.close()
                    raise http.Busy(self.where, resp.status_code)
                if resp.status_code == 404:
                    text = http.error_text(resp)
                    resp.close()
                    if path == "/api/show" or ("model" in text.lower() and "not found" in text.lower()):
                        raise ModelNotFound(_pull_hint(self.model))
                    raise EngineError(f"Ollama at {self.host}: {text}")
                if resp.status_code >= 400:
                    text = http.error_text(resp)
                    resp.close()
                    raise EngineError(f"Ollama at {self.host} answered {resp.status_code}: {text}")
                return resp
        raise AssertionError("unreachable")  # pragma: no cover

    # ---- capabilities ----------------------------------------------------------------------------
    @cached_property
    def info(self) -> dict[str, Any]:
        return self._send("/api/show", {"model": self.model}, stream=False).json()

    def _capabilities(self) -> Capabilities:
        info = self.info
        caps = info.get("capabilities")
        if caps is None:  # Ollama before 0.6 has no capabilities list: a projector means vision
            vision = bool(info.get("projector_info")) or any("vision" in k for k in info.get("model_info") or {})
        else:
            vision = "vision" in caps
        return Capabilities(vision=vision, schema=True, streaming=True, parallel=self.parallel,
                            max_pixels=DEFAULT_MAX_PIXELS, min_side=28)

    def check(self, request: Request) -> None:
        try:
            super().check(request)
        except Unsupported as e:
            if request.images and not self.capabilities().vision:
                raise Unsupported(
                    f"Ollama model {self.model!r} has no vision capability and would ignore the image(s); "
                    "pull a vision model, for example `ollama pull qwen2.5vl:3b`"
                ) from None
            raise e

    # ---- the wire format ---------------------------------------------------------------------------
    def payload(self, request: Request, *, stream: bool) -> dict[str, Any]:
        from ..media.images import to_base64

        messages = []
        for m in request.messages:
            msg: dict[str, Any] = {"role": m.role, "content": m.text}
            if m.images:
                msg["images"] = [to_base64(p.image) for p in m.images]  # raw base64, no data: prefix
            messages.append(msg)
        o = request.options
        options: dict[str, Any] = {}
        if o.temperature is not None:
            options["temperature"] = o.temperature
        if o.seed is not None:
            options["seed"] = o.seed
        if o.max_tokens is not None:
            options["num_predict"] = o.max_tokens
        if o.stop:
            options["stop"] = list(o.stop)
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": stream}
        for k, v in o.extra.items():
            if k in _OWN_FIELDS:  # the request's own fields always win; an extra never overrides them
                raise Unsupported(f"option {k!r} is a field oculo sets itself in the request; "
                                  f"use {_OWN_FIELDS[k]} instead of -o {k}")
            (body if k in _TOP_LEVEL else options)[k] = v
        if options:
            body["options"] = options
        if request.schema is not None:
            body["format"] = request.schema
        if self.keep_alive is not None and "keep_alive" not in body:
            body["keep_alive"] = self.keep_alive
        return body

    def _collect(self, request: Request) -> Reply:
        # A plain request goes plain (stream: false): a server can then batch it with others (oculo serve does).
        t0 = time.perf_counter()
        resp = self._send("/api/chat", self.payload(request, stream=False), stream=False)
        try:
            obj = resp.json()
        except ValueError:
            raise EngineError(f"{self.where} sent a reply that is not JSON") from None
        if "error" in obj:
            raise EngineError(f"Ollama failed while answering with {self.model!r}: {obj['error']}")
        text = (obj.get("message") or {}).get("content") or ""
        return self._reply(text, obj, None, time.perf_counter() - t0)

    def _stream(self, request: Request) -> Iterator[Chunk]:
        t0 = time.perf_counter()
        ttft = None
        parts: list[str] = []
        resp = self._send("/api/chat", self.payload(request, stream=True), stream=True)
        try:
            for obj in http.json_lines(resp):
                if "error" in obj:  # Ollama reports failures after HTTP 200 as an error line
                    raise EngineError(f"Ollama failed while answering with {self.model!r}: {obj['error']}")
                piece = (obj.get("message") or {}).get("content") or ""
                if piece:
                    if ttft is None:
                        ttft = time.perf_counter() - t0
                    parts.append(piece)
                    yield Chunk(piece)
                if obj.get("done"):
                    yield Chunk("", self._reply("".join(parts), obj, ttft, time.perf_counter() - t0))
                    return
        except httpx.TransportError as e:
            raise http.dropped(self.where, e) from None
        finally:
            resp.close()
        raise EngineError(f"Ollama at {self.host} ended the stream without a final message")

    def _reply(self, text: str, final: dict[str, Any], ttft: float | None, wall: float) -> Reply:
        def sec(key: str) -> float | None:
            v = final.get(key)
            return v / 1e9 if isinstance(v, (int, float)) else None  # Ollama reports nanoseconds

        load, prompt_eval, total = sec("load_duration"), sec("prompt_eval_duration"), sec("total_duration")
        if load is not None and prompt_eval is not None:
            ttft = load + prompt_eval
        stats = Stats(
            prompt_tokens=final.get("prompt_eval_count"),
            generated_tokens=final.get("eval_count"),
            ttft_s=ttft,
            total_s=total if total is not None else wall,
            load_s=load,
        )
        return Reply(text, self.model, self.name, stats, finish_reason=final.get("done_reason") or "stop")

    def close(self) -> None:
        self.client.close()


def default_ollama_model(host: str | None = None) -> str:
    """The best vision model already pulled, so `oculo ask` works without -m."""
    base = ollama_host(host)
    with http.make_client(base, None) as client:
        try:
            tags = client.get("/api/tags").json().get("models") or []
        except httpx.HTTPError as e:
            raise http.unreachable("Ollama", base, e, "start it with `ollama serve`") from None
        names = [t.get("name") or t.get("model") for t in tags]

        def rank(name: str) -> int:
            fam = name.split(":")[0].split("/")[-1]
            return next((i for i, p in enumerate(_PREFERRED) if fam.startswith(p)), len(_PREFERRED))

        for name in sorted(names, key=rank):
            try:
                show = client.post("/api/show", json={"model": name}).json()
            except httpx.HTTPError:
                continue
            if "vision" in (show.get("capabilities") or []):
                return name
    raise ModelNotFound(f"Ollama at {base} has no vision model pulled; run `ollama pull qwen2.5vl:3b` or pass -m")
