"""The server's front gate, as plain ASGI so it runs before any route: Host allow-list, API key, body size and pace.

It also reads the whole body up front (bounded), so routes see JSON whatever the Content-Type said and a
client that trickles bytes is cut off here rather than holding a worker.
"""

from __future__ import annotations

import hmac
from typing import Any

import anyio

from .config import ServeConfig
from .wire import error_response

__all__ = ["Guard"]

_OPEN_PATHS = {"/"}  # a liveness probe needs no key (it reveals nothing but "oculo is running")


class Guard:
    def __init__(self, app: Any, config: ServeConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cfg, path = self.config, scope.get("path", "")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}

        async def refuse(status: int, message: str, extra: dict[str, str] | None = None) -> None:
            resp = error_response(path, status, message)
            resp.headers.update(extra or {})
            await resp(scope, receive, send)

        if not cfg.host_allowed(headers.get("host")):
            await refuse(403, f"host {headers.get('host', '')[:100]!r} is not allowed; this server answers "
                              "localhost only (start it with --allow-host NAME to add one)")
            return
        if cfg.api_key and path not in _OPEN_PATHS:
            sent = headers.get("authorization", "")
            expected = f"Bearer {cfg.api_key}"
            if not hmac.compare_digest(sent.encode(), expected.encode()):
                await refuse(401, "missing or wrong API key; send the header `Authorization: Bearer <key>`",
                             {"WWW-Authenticate": "Bearer"})
                return
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return

        limit = cfg.max_body_bytes
        too_big = f"request body is larger than this server's limit of {limit:,} bytes (--max-body-mb); " \
                  "send smaller or fewer images"
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await refuse(413, too_big)
            return
        chunks: list[bytes] = []
        size = 0
        try:
            with anyio.fail_after(cfg.body_timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        await refuse(413, too_big)
                        return
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await refuse(408, f"the request body did not arrive within {cfg.body_timeout_s:g} s; send it at once")
            return
        body = b"".join(chunks)
        # Ollama reads every body as JSON: `curl -d '{...}'` sends form-urlencoded and still works there.
        scope = dict(scope)
        scope["headers"] = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-type"]
        scope["headers"].append((b"content-type", b"application/json"))
        sent_body = False

        async def replay() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the real channel, so disconnects are still seen

        await self.app(scope, replay, send)
