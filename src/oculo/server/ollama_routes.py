"""Ollama's native API (/api/*): enough of it for the official clients, Open WebUI and `ollama`-style tools."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter
from fastapi import Request as HTTPRequest
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from ..engines.base import Chunk, Message, Options, Reply, Request
from ..errors import InputError, OculoError, Unsupported
from .wire import (
    OllamaChat,
    OllamaGenerate,
    OllamaOptions,
    OllamaShow,
    accept_reply,
    decode_image,
    finish_reason,
    now_rfc3339,
    one_line,
    parse_body,
)

router = APIRouter()

_ROLES = {"system", "user", "assistant"}


def _runtime(http: HTTPRequest) -> Any:
    return http.app.state.oculo


@router.api_route("/", methods=["GET", "HEAD"], response_class=PlainTextResponse, include_in_schema=False)
async def root() -> str:
    return "oculo is running"


@router.get("/api/version")
async def version() -> dict[str, str]:
    return {"version": _oculo_version()}


@router.get("/api/tags")
async def tags(http: HTTPRequest) -> dict[str, Any]:
    rt = _runtime(http)
    name = _tagged(rt.served_name)
    return {"models": [{
        "name": name,
        "model": name,
        "modified_at": rt.started_at.isoformat(),
        "size": 0,  # unknown for most engines; 0 keeps clients that sum sizes working
        "digest": hashlib.sha256(rt.engine.model.encode()).hexdigest(),
        "details": _details(rt),
    }]}


@router.get("/api/ps")
async def ps(http: HTTPRequest) -> dict[str, Any]:
    """The one model this server holds, always loaded (it loads at start and stays)."""
    rt = _runtime(http)
    name = _tagged(rt.served_name)
    return {"models": [{
        "name": name, "model": name, "size": 0, "size_vram": 0,
        "digest": hashlib.sha256(rt.engine.model.encode()).hexdigest(),
        "details": _details(rt), "expires_at": "9999-12-31T23:59:59Z",
    }]}


@router.post("/api/show")
async def show(http: HTTPRequest) -> dict[str, Any]:
    body = await parse_body(http, OllamaShow)
    rt = _runtime(http)
    rt.check_model(body.model or body.name)
    return {
        "license": "",
        "modelfile": "",
        "parameters": "",
        "template": "",
        "details": _details(rt),
        "model_info": {"general.architecture": rt.engine.name, "general.basename": rt.served_name},
        "capabilities": ["completion", "vision"] if rt.caps.vision else ["completion"],
        "modified_at": rt.started_at.isoformat(),
    }


@router.post("/api/chat")
async def chat(http: HTTPRequest) -> Any:
    body = await parse_body(http, OllamaChat)
    rt = _runtime(http)
    rt.check_model(body.model)
    if body.tools:
        raise Unsupported("tool calling is not supported by oculo's server")
    if not body.messages:  # Ollama treats an empty chat as "load the model" and answers at once
        return _load_reply(body.model, {"message": {"role": "assistant", "content": ""}})

    for i, m in enumerate(body.messages, 1):
        if m.role not in _ROLES:
            raise Unsupported(f"messages[{i - 1}].role: {m.role!r} is not supported (use system, user or assistant)")
    rt.limit_images(sum(len(m.images or []) for m in body.messages))
    schema = _schema(body.format)

    def build() -> Request:
        messages = []
        for i, m in enumerate(body.messages, 1):
            if m.role not in _ROLES:
                raise Unsupported(f"message {i}: role {m.role!r} is not supported (use system, user or assistant)")
            images = [decode_image(data, f"image {j} of message {i}", rt.limits())
                      for j, data in enumerate(m.images or [], 1)]
            messages.append(Message(m.role, m.content or "", images))  # type: ignore[arg-type]
        return Request(messages, _options(body.options, body.keep_alive), schema=schema)

    return await _answer(rt, http, body.model, body.stream is not False, build,
                         lambda text: {"message": {"role": "assistant", "content": text}})


@router.post("/api/generate")
async def generate(http: HTTPRequest) -> Any:
    body = await parse_body(http, OllamaGenerate)
    rt = _runtime(http)
    rt.check_model(body.model)
    if body.suffix:
        raise Unsupported("suffix (fill-in-the-middle) is not supported by oculo's server")
    if body.raw or body.template:
        raise Unsupported("raw prompts and custom templates are not supported by oculo's server")
    if not body.prompt and not body.images:
        return _load_reply(body.model, {"response": ""})
    rt.limit_images(len(body.images or []))
    schema = _schema(body.format)

    def build() -> Request:
        images = [decode_image(data, f"images[{j - 1}]", rt.limits()) for j, data in enumerate(body.images or [], 1)]
        return Request.simple(body.prompt or "", images, system=body.system,
                              options=_options(body.options, body.keep_alive), schema=schema)

    return await _answer(rt, http, body.model, body.stream is not False, build, lambda text: {"response": text})


async def _answer(rt: Any, http: HTTPRequest, model: str, stream: bool, build: Callable[[], Request],
                  content: Callable[[str], dict[str, Any]]) -> Any:
    t0 = time.perf_counter()
    if not stream:
        request, reply, wall_s = await rt.generate(build, http)
        headers = accept_reply(request, reply)
        return JSONResponse({"model": model, "created_at": now_rfc3339(), **content(reply.text), "done": True,
                             **_final(reply, wall_s)}, headers=headers)
    request, chunks = await rt.stream(build)
    return StreamingResponse(_ndjson(chunks, request, model, content, t0, rt.public),
                             media_type="application/x-ndjson")


async def _ndjson(chunks: AsyncIterator[Chunk], request: Request, model: str,
                  content: Callable[[str], dict[str, Any]], t0: float,
                  public: Callable[[str], str]) -> AsyncIterator[str]:
    reply: Reply | None = None
    try:
        async for chunk in chunks:
            if chunk.text:
                yield _line({"model": model, "created_at": now_rfc3339(), **content(chunk.text), "done": False})
            if chunk.reply is not None:
                reply = chunk.reply
        if reply is not None:
            accept_reply(request, reply)
        yield _line({"model": model, "created_at": now_rfc3339(), **content(""), "done": True,
                     **_final(reply, time.perf_counter() - t0)})
    except OculoError as e:
        # The 200 and earlier lines are already sent; Ollama ends such a stream with one error object.
        yield _line({"error": one_line(public(str(e)))})


def _final(reply: Reply | None, wall_s: float) -> dict[str, Any]:
    """Engine stats in Ollama's units (nanoseconds); counts the engine did not report are left out, not faked."""
    s = reply.stats if reply is not None else None
    total = s.total_s if s is not None and s.total_s is not None else wall_s
    load = (s.load_s or 0.0) if s is not None else 0.0
    out: dict[str, Any] = {"done_reason": finish_reason(reply), "total_duration": _ns(total),
                           "load_duration": _ns(load)}
    if s is not None:
        if s.prompt_tokens is not None:
            out["prompt_eval_count"] = s.prompt_tokens
        if s.ttft_s is not None:
            out["prompt_eval_duration"] = _ns(max(0.0, s.ttft_s - load))
        if s.generated_tokens is not None:
            out["eval_count"] = s.generated_tokens
        out["eval_duration"] = _ns(max(0.0, total - (s.ttft_s if s.ttft_s is not None else load)))
    return out


def _schema(fmt: str | dict[str, Any] | None) -> dict[str, Any] | None:
    if fmt in (None, ""):
        return None
    if fmt == "json":
        return {"type": "object"}  # Ollama's "json" means any JSON object
    if isinstance(fmt, dict):
        return fmt
    raise InputError(f'format: {str(fmt)[:40]!r} is not valid; use "json" or a JSON schema object')


def _options(raw: OllamaOptions | None, keep_alive: str | float | None) -> Options:
    extra = {k: v for k, v in (raw.model_dump() if raw is not None else {}).items() if v is not None}
    num_predict = extra.pop("num_predict", None)
    if num_predict == 0:
        raise InputError("options.num_predict: must be at least 1 (or -1 for this server's limit)")
    stop = extra.pop("stop", None)
    if keep_alive is not None:
        extra["keep_alive"] = keep_alive
    return Options(
        max_tokens=num_predict if num_predict is not None and num_predict > 0 else None,  # -1/-2: the server's cap
        temperature=extra.pop("temperature", None),
        seed=extra.pop("seed", None),
        stop=[stop] if isinstance(stop, str) else list(stop or []),
        extra=extra,
    )


def _load_reply(model: str, content: dict[str, Any]) -> dict[str, Any]:
    return {"model": model, "created_at": now_rfc3339(), **content, "done": True, "done_reason": "load"}


def _details(rt: Any) -> dict[str, Any]:
    return {"parent_model": "", "format": rt.engine.name, "family": "", "families": None,
            "parameter_size": "", "quantization_level": ""}


def _tagged(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _oculo_version() -> str:
    from .. import __version__

    return __version__
