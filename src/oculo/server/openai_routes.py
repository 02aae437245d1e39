"""OpenAI's chat completions API (/v1/*), the subset vision clients use: text + image_url parts, JSON schema output."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi import Request as HTTPRequest
from fastapi.responses import JSONResponse, StreamingResponse

from ..engines.base import Chunk, ImagePart, Message, Options, Reply, Request
from ..errors import InputError, OculoError, Unsupported
from .wire import (
    ImagePartBody,
    OpenAIChat,
    OpenAIMessage,
    accept_reply,
    decode_image,
    finish_reason,
    image_from_bytes,
    openai_error,
    parse_body,
    status_for,
)

router = APIRouter(prefix="/v1")

# "developer" is the newer name OpenAI gives system instructions.
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
_EXTRA = ("top_p", "frequency_penalty", "presence_penalty")


def _model(rt: Any) -> dict[str, Any]:
    return {"id": rt.served_name, "object": "model", "created": int(rt.started_at.timestamp()), "owned_by": "oculo"}


@router.get("/models")
async def models(http: HTTPRequest) -> dict[str, Any]:
    return {"object": "list", "data": [_model(http.app.state.oculo)]}


@router.get("/models/{model_id:path}")
async def model(model_id: str, http: HTTPRequest) -> dict[str, Any]:
    rt = http.app.state.oculo
    rt.check_model(model_id)  # every name the Ollama routes accept (`tiny`, `tiny:latest`) works here too
    return _model(rt)


@router.post("/chat/completions")
async def chat_completions(http: HTTPRequest) -> Any:
    body = await parse_body(http, OpenAIChat)
    rt = http.app.state.oculo
    rt.check_model(body.model)
    if body.tools:
        raise Unsupported("tool calling is not supported by oculo's server")
    if body.n not in (None, 1):
        raise Unsupported("n > 1 is not supported; send the request several times")

    for i, m in enumerate(body.messages):
        if m.role not in _ROLES:
            raise Unsupported(f"messages[{i}].role: {m.role!r} is not supported (use system, user or assistant)")
    rt.limit_images(sum(_image_count(m) for m in body.messages))
    schema, name = _response_format(body.response_format)
    options = _options(body)

    def build() -> Request:
        messages = [_message(i, m.role, m.content, rt) for i, m in enumerate(body.messages, 1)]
        return Request(messages, options, schema=schema, schema_name=name)

    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if not body.stream:
        request, reply, _ = await rt.generate(build, http)
        headers = accept_reply(request, reply)
        return JSONResponse({
            "id": cid, "object": "chat.completion", "created": created, "model": body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                         "logprobs": None, "finish_reason": finish_reason(reply)}],
            "usage": _usage(reply),
        }, headers=headers)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    request, chunks = await rt.stream(build)
    head = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": body.model}
    return StreamingResponse(_sse(chunks, request, head, include_usage, rt.public), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


async def _sse(chunks: AsyncIterator[Chunk], request: Request, head: dict[str, Any],
               include_usage: bool, public: Any) -> AsyncIterator[str]:
    usage = {"usage": None} if include_usage else {}  # with include_usage every chunk carries the key, as OpenAI does

    def event(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _data({**head, "choices": [choice], **usage})

    reply: Reply | None = None
    try:
        yield event({"role": "assistant", "content": ""})
        async for chunk in chunks:
            if chunk.text:
                yield event({"content": chunk.text})
            if chunk.reply is not None:
                reply = chunk.reply
        if reply is not None:
            accept_reply(request, reply)
        yield event({}, finish_reason(reply))
        if include_usage:
            yield _data({**head, "choices": [], "usage": _usage(reply)})
        yield "data: [DONE]\n\n"
    except OculoError as e:
        # Headers are gone already; the openai client raises APIError on an event carrying "error".
        yield _data(openai_error(status_for(e), public(str(e))))


def _image_count(m: OpenAIMessage) -> int:
    return sum(isinstance(p, ImagePartBody) for p in m.content) if isinstance(m.content, list) else 0


def _message(i: int, role: str, content: Any, rt: Any) -> Message:
    if content is None or isinstance(content, str):
        return Message(_ROLES[role], content or "")  # type: ignore[arg-type]
    texts: list[str] = []
    images: list[ImagePart] = []
    for j, part in enumerate(content):
        if isinstance(part, ImagePartBody):
            ref = part.image_url
            images.append(_image(ref if isinstance(ref, str) else ref.url, f"messages[{i - 1}].content[{j}]", rt))
        else:
            texts.append(part.text)
    return Message(_ROLES[role], "\n".join(texts), images)  # type: ignore[arg-type]


def _image(url: str, name: str, rt: Any) -> ImagePart:
    if not url:
        raise InputError(f"{name}.image_url: needs a url")
    if url.startswith(("http://", "https://")):
        cfg = rt.config
        if not cfg.allow_url_images:
            raise InputError(f"{name}.image_url: this server does not fetch image URLs; send the image as a "
                             "data: URI (or start the server with --allow-url-images)")
        from .urls import fetch_image_bytes

        raw = fetch_image_bytes(url, f"{name}.image_url", max_bytes=cfg.url_max_bytes, timeout_s=cfg.url_timeout_s,
                                ok=cfg.url_address_ok)
        return image_from_bytes(raw, name, rt.limits())
    if url.startswith("data:"):
        return decode_image(url, name, rt.limits())
    raise InputError(f"{name}.image_url: must be a data: URI or an http(s) URL")


def _response_format(fmt: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str]:
    kind = (fmt or {}).get("type", "text")
    if not isinstance(kind, str):
        raise InputError("response_format.type: must be text, json_object or json_schema")
    if kind == "text":
        return None, "response"
    if kind == "json_object":
        return {"type": "object"}, "response"
    if kind == "json_schema":
        spec = fmt.get("json_schema") or {}  # type: ignore[union-attr]
        if not isinstance(spec, dict):
            raise InputError("response_format.json_schema: must be an object with a schema")
        schema = spec.get("schema")
        if not isinstance(schema, dict):
            raise InputError("response_format.json_schema.schema must be a JSON schema object")
        return schema, str(spec.get("name") or "response")
    raise InputError(f"response_format.type: {kind[:40]!r} is not supported (use text, json_object or json_schema)")


def _options(body: OpenAIChat) -> Options:
    stop = body.stop
    extra = {k: getattr(body, k) for k in _EXTRA if getattr(body, k) is not None}
    return Options(
        max_tokens=body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens,
        temperature=body.temperature,
        seed=body.seed,
        stop=[stop] if isinstance(stop, str) else list(stop or []),
        extra=extra,
    )


def _usage(reply: Reply | None) -> dict[str, int]:
    prompt = (reply.stats.prompt_tokens if reply else None) or 0
    completion = (reply.stats.generated_tokens if reply else None) or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _data(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"
