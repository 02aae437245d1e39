"""The review page's HTTP side: a small Starlette app behind a loopback-only gate.

Clients name documents by their number in the job and fields by their path; a file path never comes from the
client, so only a job's own source files are ever read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from ..errors import InputError
from . import pages
from .core import ReviewJob

__all__ = ["MAX_BODY", "create_app"]

MAX_BODY = 64 * 1024  # a form with one value: anything larger is not from this page
STATIC = Path(__file__).parent / "static"
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Gate:
    """Runs before any route: Host allow-list (no DNS rebinding), same-origin posts, and a body size cap."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")

        async def refuse(code: int, message: str) -> None:
            await PlainTextResponse(message + "\n", status_code=code)(scope, receive, send)

        if _host_name(host) not in _LOOPBACK:
            return await refuse(403, f"host {host[:100]!r} is not allowed; open the review page at 127.0.0.1")
        if scope["method"] not in ("GET", "HEAD", "POST"):
            return await refuse(405, f"{scope['method'][:20]} is not supported here; the page uses GET and POST")
        if scope["method"] == "POST":
            origin = headers.get("origin")
            if origin is not None and (urlsplit(origin).netloc.lower() != host.lower()):
                return await refuse(403, "a post from another site is refused; use the review page itself")
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                return await refuse(400, "Content-Length is not a number; send a plain form")
            if length > MAX_BODY:
                return await refuse(413, f"the body is over {MAX_BODY // 1024} KiB; send one value at a time")
        seen = 0

        async def capped() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > MAX_BODY:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, capped, send)
        except _TooLarge:
            await refuse(413, f"the body is over {MAX_BODY // 1024} KiB; send one value at a time")


class _TooLarge(Exception):
    pass


async def _form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise InputError("send the form as application/x-www-form-urlencoded, as the page does")
    try:
        body = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the form is not UTF-8; send it from the review page") from None
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _index(request: Request) -> int:
    try:
        return int(request.path_params["n"])
    except ValueError:
        raise InputError("a document is named by its number; go back to the list") from None


def create_app(review: ReviewJob) -> Starlette:
    def listing(request: Request) -> Response:
        sort = request.query_params.get("sort", "")
        if sort not in ("", "status", "name"):
            raise InputError(f"sort by status or name, not {sort[:40]!r}")
        return Response(pages.listing(review, review.documents(), sort), media_type="text/html")

    def document(request: Request) -> Response:
        doc = review.document(_index(request))
        return Response(pages.document(review, doc, len(review.documents())), media_type="text/html")

    def page_image(request: Request) -> Response:
        doc = review.document(_index(request))
        try:
            page = int(request.path_params["p"])
        except ValueError:
            raise InputError("a page is named by its number") from None
        try:
            png = review.render_page(doc, page)
        except InputError:
            raise
        except Exception as e:  # noqa: BLE001 - a moved or unreadable source: say which, never a 500
            return PlainTextResponse(f"cannot render {doc.name} page {page}: {str(e)[:200]}; run oculo review "
                                     "where the job's files are\n", status_code=404)
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})

    async def act(request: Request) -> Response:
        doc = review.document(_index(request))
        action = request.path_params["action"]
        form = await _form(request)
        path = form.get("field", "")
        if action == "correct":
            if "value" not in form:
                raise InputError("the form has no value; type the corrected value and save")
            review.correct(doc, path, form["value"])
        elif action == "check":
            review.mark_checked(doc, path, form.get("checked", "1") != "0")
        elif action == "approve":
            review.approve(doc)
        else:
            return PlainTextResponse(f"no action {action[:40]!r}; use correct, check or approve\n", status_code=404)
        anchor = "#f-" + quote(path, safe="") if path else ""
        return RedirectResponse(f"/doc/{doc.index}{anchor}", status_code=303)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ("review.js", "review.css"):
            return PlainTextResponse(f"no file {name[:40]!r}\n", status_code=404)
        return FileResponse(STATIC / name)

    async def input_error(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(f"{exc}\n", status_code=400)

    async def http_error(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "status_code", 400)
        return PlainTextResponse(f"{getattr(exc, 'detail', 'bad request')}\n", status_code=code)

    from starlette.exceptions import HTTPException

    routes = [
        Route("/", listing, methods=["GET"]),
        Route("/doc/{n}", document, methods=["GET"]),
        Route("/doc/{n}/page/{p}.png", page_image, methods=["GET"]),
        Route("/doc/{n}/{action}", act, methods=["POST"]),
        Route("/static/{name}", static, methods=["GET"]),
    ]
    return Gate(Starlette(routes=routes, exception_handlers={InputError: input_error,  # type: ignore[return-value]
                                                             HTTPException: http_error}))
