"""Any OpenAI-compatible server (llama.cpp's llama-server, vLLM, LM Studio, SGLang) via /v1/chat/completions."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
from httpx_sse import EventSource, SSEError

from ..errors import EngineError, ModelNotFound
from . import http
from .base import DEFAULT_MAX_PIXELS, Capabilities, Chunk, Reply, Request, Stats

__all__ = ["OpenAIEngine", "openai_base_url", "default_openai_model"]

DEFAULT_BASE_URL = "http://127.0.0.1:8080/v1"  # llama-server's default


def openai_base_url(base_url: str | None = None) -> str:
    url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    return url if "://" in url else "http://" + url


def _headers(api_key: str | None) -> dict[str, str]:
    key = api_key or os.environ.get("OPENAI_API_KEY")
    return {"Authorization": f"Bearer {key}"} if key else {}


class OpenAIEngine(http.ServerEngine):
    name = "openai"

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 parallel: int = 4, max_images: int | None = None,
                 transport: httpx.BaseTransport | None = None, timeout: httpx.Timeout | None = None,
                 max_pixels: int | None = None) -> None:
        super().__init__(model, max_pixels=max_pixels)
        self.base_url = openai_base_url(base_url)
        self.where = f"the server at {self.base_url}"
        self.parallel = max(1, parallel)
        self.max_images = max_images
        self.client = http.make_client(self.base_url, transport, _headers(api_key), timeout)

    def _capabilities(self) -> Capabilities:
        # The protocol cannot say whether the served model sees images; the server refuses if it does not.
        return Capabilities(vision=True, max_images=self.max_images, schema=True, streaming=True,
                            parallel=self.parallel, max_pixels=DEFAULT_MAX_PIXELS, min_side=28)

    def payload(self, request: Request, *, stream: bool) -> dict[str, Any]:
        from ..media.images import to_data_uri

        messages = []
        for m in request.messages:
            if m.images:
                content: Any = [{"type": "image_url", "image_url": {"url": to_data_uri(p.image)}} for p in m.images]
                if m.text:
                    content.append({"type": "text", "text": m.text})
            else:
                content = m.text
            messages.append({"role": m.role, "content": content})
        o = request.options
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        if o.max_tokens is not None:
            body["max_tokens"] = o.max_tokens
        if o.temperature is not None:
            body["temperature"] = o.temperature
        if o.seed is not None:
            body["seed"] = o.seed
        if o.stop:
            body["stop"] = list(o.stop)
        if request.schema is not None:
            # The nested form: llama-server silently ignores a flat {"type": "json_schema", "schema": ...}.
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": request.schema, "strict": True},
            }
        body.update(o.extra)
        return body

    def _raise_for(self, resp: httpx.Response) -> None:
        if resp.status_code in http.BUSY_STATUS:
            resp.close()
            raise http.Busy(self.where, resp.status_code)
        if resp.status_code < 400:
            return
        text = http.error_text(resp)
        resp.close()
        if resp.status_code == 404:
            raise ModelNotFound(
                f"the server at {self.base_url} does not serve model {self.model!r} ({text}); "
                f"list its models with `curl {self.base_url}/models` and pass one with -m"
            )
        if resp.status_code == 401:
            raise EngineError(f"the server at {self.base_url} refused the API key; set OPENAI_API_KEY or --api-key")
        raise EngineError(f"the server at {self.base_url} answered {resp.status_code}: {text}")

    def _open(self, body: dict[str, Any]) -> httpx.Response:
        for attempt in http.retrying():
            with attempt:
                try:
                    req = self.client.build_request("POST", "/chat/completions", json=body,
                                                    headers={"Accept": "text/event-stream"})
                    resp = self.client.send(req, stream=True)
                except httpx.TransportError as e:
                    raise http.unreachable(
                        "the OpenAI-compatible server", self.base_url, e,
                        "start it (for example `llama-server -m MODEL.gguf --mmproj MMPROJ.gguf`) "
                        "or set OPENAI_BASE_URL / --base-url") from None
                self._raise_for(resp)
                return resp
        raise AssertionError("unreachable")  # pragma: no cover

    def _stream(self, request: Request) -> Iterator[Chunk]:
        t0 = time.perf_counter()
        resp = self._open(self.payload(request, stream=True))
        ttft = None
        parts: list[str] = []
        usage: dict[str, Any] = {}
        finish = None
        try:
            for event in EventSource(resp).iter_sse():
                if event.data.strip() == "[DONE]":
                    break
                obj = json.loads(event.data)
                if "error" in obj:
                    err = obj["error"]
                    raise EngineError(f"the server at {self.base_url} failed mid-reply: "
                                      f"{err.get('message', err) if isinstance(err, dict) else err}")
                usage = obj.get("usage") or usage
                for choice in obj.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content") or ""
                    finish = choice.get("finish_reason") or finish
                    if piece:
                        if ttft is None:
                            ttft = time.perf_counter() - t0
                        parts.append(piece)
                        yield Chunk(piece)
        except httpx.TransportError as e:
            raise http.dropped(self.where, e) from None
        except (SSEError, json.JSONDecodeError) as e:
            raise EngineError(f"the server at {self.base_url} sent a malformed stream: {e}") from None
        finally:
            resp.close()
        stats = Stats(usage.get("prompt_tokens"), usage.get("completion_tokens"), ttft, time.perf_counter() - t0)
        yield Chunk("", Reply("".join(parts), self.model, self.name, stats, finish_reason=finish or "stop"))

    def close(self) -> None:
        self.client.close()


def default_openai_model(base_url: str | None = None, api_key: str | None = None) -> str:
    """The first model the server lists: llama-server and LM Studio usually serve exactly one."""
    base = openai_base_url(base_url)
    with http.make_client(base, None, _headers(api_key)) as client:
        try:
            data = client.get("/models").json().get("data") or []
        except (httpx.HTTPError, json.JSONDecodeError) as e:
            raise http.unreachable("the OpenAI-compatible server", base, e, "start it or pass --base-url") from None
    if not data:
        raise ModelNotFound(f"the server at {base} lists no models; load one there or pass -m")
    return data[0]["id"]
