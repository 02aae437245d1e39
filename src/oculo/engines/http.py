"""What the two server engines (Ollama, OpenAI-compatible) share: a client, retries, error wording, fan-out."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from ..errors import EngineBusy, EngineError, EngineTimeout, EngineUnreachable, Transient
from .base import Engine, Reply, Request

T = TypeVar("T")

# Model loads on a cold server can take minutes before the first byte; connecting should not.
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=600.0, write=60.0, pool=600.0)


# Statuses that say "not now" rather than "never": the server (or a proxy before it) is full, overloaded or
# restarting. The same request may well succeed a moment later.
BUSY_STATUS = (429, 502, 503, 504)


class Busy(EngineBusy):
    """The server said its queue is full (503) or asked us to slow down (429): retried, then reported."""

    def __init__(self, where: str, status: int) -> None:
        super().__init__(f"{where} stayed busy (HTTP {status}) through every retry; "
                         "try again later, or lower the number of requests in flight")


def make_client(base_url: str, transport: httpx.BaseTransport | None, headers: dict[str, str] | None = None,
                timeout: httpx.Timeout | None = None) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=timeout or DEFAULT_TIMEOUT, transport=transport,
                        headers=headers or {}, trust_env=False)


def retrying(attempts: int | None = None) -> Retrying:
    n = attempts or int(os.environ.get("OCULO_RETRIES", "5"))
    return Retrying(
        retry=retry_if_exception(lambda e: isinstance(e, Busy)),
        stop=stop_after_attempt(max(1, n)),
        wait=wait_exponential(multiplier=0.5, min=0.25, max=8),
        reraise=True,
    )


def error_text(response: httpx.Response) -> str:
    """The server's own error message, whether Ollama's {"error": "..."} or OpenAI's {"error": {"message"}}."""
    try:
        response.read()
        body = response.json()
    except (json.JSONDecodeError, httpx.HTTPError, UnicodeDecodeError):
        return (response.text or "").strip()[:300] or f"HTTP {response.status_code}"
    err = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(err, dict):
        err = err.get("message", err)
    return str(err)


def unreachable(what: str, url: str, e: Exception, fix: str) -> Transient:
    """A transport failure in words: a server that timed out is slow (wait or raise the timeout), else it is down."""
    if isinstance(e, httpx.TimeoutException) and not isinstance(e, httpx.ConnectTimeout):
        return EngineTimeout(f"{what} at {url} did not answer in time; try again when it is less busy")
    return EngineUnreachable(f"cannot reach {what} at {url} ({_reason(e)}); {fix}")


def dropped(where: str, e: Exception) -> Transient:
    """The connection failed after the request was sent: the server crashed, restarted or timed out mid-reply."""
    if isinstance(e, httpx.TimeoutException):
        return EngineTimeout(f"{where} stopped answering mid-reply; try again when it is less busy")
    return EngineUnreachable(f"{where} dropped the connection mid-reply ({_reason(e)}); check that it is still running")


def _reason(e: Exception) -> str:
    # httpx's own words ("[Errno 111] Connection refused") say more than its class name, and leak no class names.
    text = " ".join(str(e).split())
    return text[:200] or "no answer"


def fan_out(fn: Callable[[T], Any], items: Sequence[T], workers: int) -> list[Any]:
    """Run fn over items with up to `workers` in flight, results in input order; first error wins."""
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


def json_lines(response: httpx.Response) -> Iterator[dict[str, Any]]:
    for line in response.iter_lines():
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                raise EngineError(f"server sent a line that is not JSON: {line[:120]!r}") from None


class ServerEngine(Engine):
    """An engine whose model lives behind HTTP: plain requests reuse the streaming path, fanned out."""

    parallel: int = 1
    where: str = "the server"  # for messages: "Ollama at http://..."

    def _generate(self, requests: list[Request]) -> list[Reply]:
        return fan_out(self._collect, requests, self.parallel)

    def _collect(self, request: Request) -> Reply:
        # One parser for streamed and plain replies, so mid-stream errors are handled in one place.
        for chunk in self._stream(request):
            if chunk.reply is not None:
                return chunk.reply
        raise EngineError(f"{self.where} closed the stream before the reply was done")
