"""OpenAI's chat completions API (/v1/*), the subset vision clients use: text + image_url parts, JSON schema output."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request as HTTPRequest
from fastapi.responses import JSONResponse, StreamingResponse

from ..engines.base import Chunk, ImagePart, Message, Options, Reply, Request
from ..errors import InputError, OculoError, Unsupported
from .wire import OpenAIChat, accept_reply, decode_image, fetch_remote, finish_reason, openai_error, status_for

router = APIRouter(prefix="/v1")

# "developer" is the newer name OpenAI gives system instructions.
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
_EXTRA = ("top_p", "frequency_penalty", "presence_penalty")


@router.get("/models")
async def models(http: HTTPRequest) -> dict[str, Any]:
    rt = http.app.state.oculo
    return {"object": "list", "data": [{"id": rt.served_name, "object": "model",
                                        "created": int(rt.started_at.timestamp()), "owned_by": "oculo"}]}


@router.post("/chat/completions")
async def chat_completions(body: OpenAIChat, http: HTTPRequest) -> Any:
    rt = http.app.state.oculo
    rt.check_model(body.model)
    if body.tools:
        raise Unsupported("tool calling is not supported by oculo's server")
    if body.n not in (None, 1):
        raise Unsupported("n > 1 is not supported; send the request several times")

    def build() -> Request:
        messages = [_message(i, m.role, m.content, rt.limits()) for i, m in enumerate(body.messages, 1)]
        schema, name = _response_format(body.response_format)
        return Request(messages, _options(body), schema=schema, schema_name=name)

    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if not body.stream:
        request, reply, _ = await rt.generate(build)
        headers = accept_reply(request, reply)
        return JSONResponse({
            "id": cid, "object": "chat.completion", "created": created, "model": body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                         "logprobs": None, "finish_reason": finish_reason(reply)}],
            "usage": _usage(reply),
        }, headers=headers)
    include_usage = bool((body.stream_options or {}).get("include_usage"))
    request, chunks = await rt.stream(build)
    head = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": body.model}
    return StreamingResponse(_sse(chunks, request, head, include_usage), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


async def _sse(chunks: AsyncIterator[Chunk], request: Request, head: dict[str, Any],
               include_usage: bool) -> AsyncIterator[str]:
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
        yield _data(openai_error(status_for(e), str(e)))


def _message(i: int, role: str, content: str | list[dict[str, Any]] | None, limits: Any) -> Message:
    if role not in _ROLES:
        raise Unsupported(f"messages[{i - 1}]: role {role!r} is not supported (use system, user or assistant)")
    if content is None or isinstance(content, str):
        return Message(_ROLES[role], content or "")  # type: ignore[arg-type]
    texts: list[str] = []
    images: list[ImagePart] = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind == "image_url":
            images.append(_image(part.get("image_url"), f"messages[{i - 1}].content[{j}]", limits))
        else:
            raise Unsupported(f"messages[{i - 1}].content[{j}]: content part type {kind!r} is not supported "
                              "(use text or image_url)")
    return Message(_ROLES[role], "\n".join(texts), images)  # type: ignore[arg-type]


def _image(ref: Any, name: str, limits: Any) -> ImagePart:
    url = ref.get("url") if isinstance(ref, dict) else ref
    if not isinstance(url, str) or not url:
        raise InputError(f"{name}: image_url needs a url")
    if url.startswith(("http://", "https://")):
        return fetch_remote(url, name, limits)
    if url.startswith("data:"):
        return decode_image(url, name, limits)
    raise InputError(f"{name}: image_url must be a data: URI or an http(s) URL")


def _response_format(fmt: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str]:
    kind = (fmt or {}).get("type", "text")
    if kind == "text":
        return None, "response"
    if kind == "json_object":
        return {"type": "object"}, "response"
    if kind == "json_schema":
        spec = fmt.get("json_schema") or {}  # type: ignore[union-attr]
        schema = spec.get("schema")
        if not isinstance(schema, dict):
            raise InputError("response_format.json_schema.schema must be a JSON schema object")
        return schema, str(spec.get("name") or "response")
    raise InputError(f"response_format type {kind!r} is not supported (use text, json_object or json_schema)")


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
