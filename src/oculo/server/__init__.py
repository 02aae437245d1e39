"""`oculo serve`: one engine behind Ollama- and OpenAI-compatible HTTP APIs, and oculo's own task routes.

Engine calls block (the in-process engine computes on the calling thread), so every call runs on a worker
thread behind a semaphore sized by `Capabilities.parallel`; the event loop only moves bytes.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .config import ServeConfig

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..engines.base import Chunk, Engine, Options, Reply, Request

__all__ = ["Runtime", "ServeConfig", "create_app", "run"]

_END = object()


class ClientGone(Exception):
    """The client disconnected before its reply was ready; its generation was cancelled."""


class Runtime:
    """The engine plus the admission rules shared by both protocols (lives in `app.state.oculo`)."""

    def __init__(self, engine: Engine, served_name: str | None = None, max_queue: int = 512,
                 config: ServeConfig | None = None) -> None:
        from .config import ServeConfig

        self.engine = engine
        self.served_name = served_name or default_served_name(engine.model)
        self.config = config or ServeConfig()
        self.caps = engine.capabilities()
        self.parallel = max(1, self.caps.parallel)
        self.max_queue = max(0, max_queue)
        self.inflight = 0  # admitted and not finished: running + waiting for a slot (+ decoding images)
        self.started_at = datetime.now(timezone.utc)
        self._slots: asyncio.Semaphore | None = None
        self._batcher: _Batcher | None = None
        self._limits: Any = None
        self._cpu: Any = None
        self._context: int | None | bool = False  # False: not asked yet

    @property
    def batcher(self) -> _Batcher:
        if self._batcher is None:  # created on first use so it belongs to the server's event loop
            self._batcher = _Batcher(self, self.caps.batch)
        return self._batcher

    @property
    def slots(self) -> asyncio.Semaphore:
        if self._slots is None:  # created on first use so it belongs to the server's event loop
            self._slots = asyncio.Semaphore(self.parallel)
        return self._slots

    @property
    def cpu(self) -> Any:
        """The bounded pool for CPU work off the event loop (image decoding, checks): never more threads than cores."""
        if self._cpu is None:
            import anyio

            self._cpu = anyio.CapacityLimiter(max(2, os.cpu_count() or 2))
        return self._cpu

    def limits(self) -> Any:
        if self._limits is None:
            from .wire import image_limits

            self._limits = image_limits(self.caps)
        return self._limits

    def check_model(self, name: str | None) -> None:
        from .wire import check_model

        check_model(name, self.served_name, self.engine.model)

    def public(self, text: str) -> str:
        """A message or record as a client may see it: the model's local path replaced by its served name."""
        model = self.engine.model
        return text.replace(model, self.served_name) if model and model != self.served_name else text

    # ---- admission -------------------------------------------------------------------------------------------
    def _admit(self) -> None:
        from .wire import BUSY, ServerBusy

        # `max_queue` counts requests waiting for the engine, as Ollama's OLLAMA_MAX_QUEUE does; running ones are extra.
        if self.inflight >= self.parallel + self.max_queue:
            raise ServerBusy(BUSY)
        self.inflight += 1

    def _leave(self) -> None:
        self.inflight -= 1

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        """One admission for one HTTP request, however many engine calls it makes (a 4-image task counts once)."""
        self._admit()
        try:
            yield
        finally:
            self._leave()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Admitted and holding the engine: for work of several engine calls (a comparison by descriptions)."""
        async with self.admitted(), self.slots:
            yield

    async def off_loop(self, fn: Callable[..., Any], *args: Any) -> Any:
        import anyio

        return await anyio.to_thread.run_sync(fn, *args, limiter=self.cpu)

    # ---- checks before any compute ---------------------------------------------------------------------------
    def limit_images(self, count: int) -> None:
        """Refuse too many images before decoding any of them."""
        from ..errors import Unsupported

        cap = self.config.max_images
        if self.caps.max_images is not None:
            cap = min(cap, self.caps.max_images)
        if count > cap:
            raise Unsupported(f"this server takes at most {cap} image(s) per request, got {count}; "
                              "send fewer images at once")

    def prepare(self, request: Request) -> Request:
        """Apply the server's defaults, then refuse anything that would fail or run away inside a batch."""
        from .checks import check_request

        cfg = self.config
        request.options = _with_server_defaults(request.options, cfg.defaults)
        if cfg.system and not any(m.role == "system" for m in request.messages):
            from ..engines.base import Message

            request.messages.insert(0, Message("system", cfg.system))
        check_request(self, request)
        return request

    def context_length(self) -> int | None:
        if self._context is False:
            fn = getattr(self.engine, "context_length", None)
            try:
                self._context = fn() if fn is not None else None
            except Exception:  # noqa: BLE001 - an engine that cannot say has no known context
                self._context = None
        return self._context or None

    # ---- running ---------------------------------------------------------------------------------------------
    async def generate(self, build: Callable[[], Request], http: Any = None, *,
                       admit: bool = True) -> tuple[Request, Reply, float]:
        """Build and check the request off the loop, then answer it; returns wall seconds too.

        With `http`, a client that disconnects cancels its generation (ClientGone) instead of leaving it running.
        """
        cancel = threading.Event()
        work = asyncio.ensure_future(self._generate(build, cancel, admit))
        if http is None:
            return await work
        watch = asyncio.ensure_future(_until_disconnect(http))
        try:
            done, _ = await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            cancel.set()
            work.cancel()
            raise
        finally:
            watch.cancel()
        if work in done:
            return work.result()
        cancel.set()  # the engine stops this row at its next token; the slot comes back when the thread ends
        work.cancel()
        raise ClientGone()

    async def _generate(self, build: Callable[[], Request], cancel: threading.Event,
                        admit: bool) -> tuple[Request, Reply, float]:
        import anyio

        from .wire import wrap_engine_error

        if admit:
            self._admit()
        t0 = time.perf_counter()
        try:
            request = await self.off_loop(lambda: self.prepare(build()))
            request.cancel = cancel
            if self.caps.batch > 1:
                reply = await self.batcher.submit(request)
            else:
                async with self.slots:
                    if cancel.is_set():
                        raise ClientGone()
                    try:
                        reply = (await anyio.to_thread.run_sync(self.engine.generate, [request]))[0]
                    except Exception as e:
                        raise wrap_engine_error(e) from e
            return request, reply, time.perf_counter() - t0
        finally:
            if admit:
                self._leave()

    async def stream(self, build: Callable[[], Request]) -> tuple[Request, AsyncIterator[Chunk]]:
        """Start streaming; raises before returning if the engine fails before its first chunk.

        So an unsupported request or a model that fails to load still gets a proper status code; after the
        first chunk the HTTP status is sent and errors can only travel inside the stream.
        """
        self._admit()
        handed_over = False
        try:
            request = await self.off_loop(lambda: self.prepare(build()))
            request.cancel = threading.Event()
            await self.slots.acquire()
            pump = _Pump(self, request)  # owns the slot and the admission from here on
            handed_over = True
            try:
                first = await pump.next()
            except BaseException:
                pump.halt()
                raise
        finally:
            if not handed_over:
                self._leave()
        return request, _drain(pump, first)

    def _release_from_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        def release() -> None:
            self.slots.release()
            self._leave()

        try:
            loop.call_soon_threadsafe(release)
        except RuntimeError:  # the loop closed under us: the server is shutting down
            pass


def _with_server_defaults(o: Options, d: Options) -> Options:
    from dataclasses import replace

    return replace(o, max_tokens=o.max_tokens if o.max_tokens is not None else d.max_tokens,
                   temperature=o.temperature if o.temperature is not None else d.temperature,
                   seed=o.seed if o.seed is not None else d.seed,
                   stop=o.stop or list(d.stop))


async def _until_disconnect(http: Any) -> None:
    """Returns when the client goes away (the body was read already, so the next message is the disconnect)."""
    while True:
        message = await http.receive()
        if message["type"] == "http.disconnect":
            return


class _Batcher:
    """Requests that arrive together go to the engine as one batch: an in-process model then answers several
    clients in one generate() call instead of queueing them one by one (batched equals one-by-one, tested)."""

    def __init__(self, runtime: Runtime, max_batch: int) -> None:
        self.runtime = runtime
        self.max_batch = max(1, max_batch)
        self.queue: asyncio.Queue[tuple[Request, asyncio.Future[Reply]]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def submit(self, request: Request) -> Reply:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._loop())
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        await self.queue.put((request, fut))
        return await fut

    async def _loop(self) -> None:
        while True:
            batch = [await self.queue.get()]
            async with self.runtime.slots:  # the engine stays exclusive, streams included
                # Whatever queued while the engine was busy joins this batch.
                while len(batch) < self.max_batch and not self.queue.empty():
                    batch.append(self.queue.get_nowait())
                live = [(r, f) for r, f in batch if not f.cancelled() and not (r.cancel and r.cancel.is_set())]
                if not live:
                    continue
                replies = await self._answer([r for r, _ in live])
            for (_, f), reply in zip(live, replies):
                if f.done():
                    continue
                if isinstance(reply, BaseException):
                    f.set_exception(reply)
                else:
                    f.set_result(reply)

    async def _answer(self, requests: list[Request]) -> list[Any]:
        """Replies, or each request's own error: a batch that fails is retried one by one, so one bad request
        fails alone instead of taking its batch-mates with it."""
        import anyio

        from .wire import wrap_engine_error

        generate = self.runtime.engine.generate
        try:
            return await anyio.to_thread.run_sync(generate, requests)
        except Exception as e:  # noqa: BLE001 - any failure: retry one by one so only the culprit fails
            if len(requests) == 1:
                return [wrap_engine_error(e)]
        out: list[Any] = []
        for r in requests:
            if r.cancel is not None and r.cancel.is_set():
                out.append(wrap_engine_error(RuntimeError("cancelled")))
                continue
            try:
                out.append((await anyio.to_thread.run_sync(generate, [r]))[0])
            except Exception as e:  # noqa: BLE001 - this request's own error, as a reply to it
                out.append(wrap_engine_error(e))
        return out


class _Pump:
    """Iterates the engine's blocking stream on one dedicated thread (engines may keep per-thread state, e.g. a
    CUDA device), handing chunks to the event loop. The slot is released when that thread ends, not when the
    client leaves, so a disconnect never lets a second request onto a still-busy engine."""

    def __init__(self, runtime: Runtime, request: Request) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.stop = threading.Event()
        self._runtime = runtime
        self._request = request
        threading.Thread(target=self._run, name="oculo-stream", daemon=True).start()

    def _put(self, kind: str, value: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (kind, value))
        except RuntimeError:
            pass

    def _run(self) -> None:
        from .wire import wrap_engine_error

        try:
            chunks = self._runtime.engine.stream(self._request)
            try:
                for chunk in chunks:
                    self._put("chunk", chunk)
                    if self.stop.is_set():  # the client went away: stop generating at the next token
                        break
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
            self._put("end", None)
        except BaseException as e:  # noqa: BLE001 - everything must reach the client as an error line
            self._put("error", wrap_engine_error(e))
        finally:
            self._runtime._release_from_thread(self.loop)

    def halt(self) -> None:
        """The client went away: the engine stops at its next token (request.cancel), the thread at its next chunk."""
        self.stop.set()
        if self._request.cancel is not None:
            self._request.cancel.set()

    async def next(self) -> Any:
        kind, value = await self.queue.get()
        if kind == "error":
            raise value
        return _END if kind == "end" else value


async def _drain(pump: _Pump, first: Any) -> AsyncIterator[Chunk]:
    try:
        item = first
        while item is not _END:
            yield item
            item = await pump.next()
    finally:
        pump.halt()


def default_served_name(model: str) -> str:
    """`/models/Qwen2.5-VL-3B-Instruct/` and `Qwen/Qwen2.5-VL-3B-Instruct` are served as `Qwen2.5-VL-3B-Instruct`."""
    return model.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1] or model


def create_app(engine: Engine, served_name: str | None = None, *, max_queue: int = 512,
               config: ServeConfig | None = None) -> FastAPI:
    from fastapi import FastAPI
    from fastapi import Request as HTTPRequest
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import Response
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from ..errors import OculoError
    from . import ollama_routes, openai_routes, task_routes
    from .guard import Guard
    from .wire import describe_validation, error_response, log, status_for

    app = FastAPI(title="oculo", version=_version(), docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    rt = app.state.oculo = Runtime(engine, served_name, max_queue, config)

    @app.exception_handler(OculoError)
    async def _oculo_error(request: HTTPRequest, exc: OculoError) -> Any:
        return error_response(request.url.path, status_for(exc), rt.public(str(exc)))

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: HTTPRequest, exc: RequestValidationError) -> Any:
        # Both servers answer a malformed request with 400 and one line, not FastAPI's 422 list.
        errors = [{**e, "loc": tuple(e.get("loc", ()))[1:]} for e in exc.errors()]
        return error_response(request.url.path, 400, f"invalid request: {describe_validation(errors)}")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: HTTPRequest, exc: StarletteHTTPException) -> Any:
        what = {404: f"no route {request.url.path[:200]}", 405: f"{request.method} is not allowed on this route"}
        return error_response(request.url.path, exc.status_code, what.get(exc.status_code, str(exc.detail)))

    @app.exception_handler(ClientGone)
    async def _gone(request: HTTPRequest, exc: ClientGone) -> Any:
        return Response(status_code=499)  # nobody reads it: nginx's "client closed request", for the access log

    @app.exception_handler(Exception)
    async def _bug(request: HTTPRequest, exc: Exception) -> Any:
        # A bug of ours, never the client's input: logged with its traceback, answered in the route's shape.
        log.error("unexpected error on %s", request.url.path, exc_info=exc)
        return error_response(request.url.path, 500, "internal server error; the server log has the details")

    app.include_router(ollama_routes.router)
    app.include_router(openai_routes.router)
    app.include_router(task_routes.router)
    app.add_middleware(Guard, config=rt.config)
    return app


def _version() -> str:
    from .. import __version__

    return __version__


def run(engine: Engine, *, host: str = "127.0.0.1", port: int = 11434, served_name: str | None = None,
        max_queue: int = 512, log_level: str = "info", config: ServeConfig | None = None,
        max_connections: int = 1000, idle_timeout_s: float = 5.0, shutdown_timeout_s: float = 10.0,
        on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted (SIGINT/SIGTERM end it gracefully). The caller owns the engine and closes it."""
    import socket

    import uvicorn

    from ..errors import InputError

    config = config or ServeConfig()
    config.bind = host
    app = create_app(engine, served_name, max_queue=max_queue, config=config)
    # Bind here, not in uvicorn, so a port in use is one line of ours instead of uvicorn's log lines.
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as e:
        in_use = getattr(e, "errno", None) in (98, 48, 10048)  # EADDRINUSE on Linux, macOS, Windows
        reason = "is in use" if in_use else f"cannot be opened ({e.strerror or e})"
        raise InputError(f"port {port} on {host} {reason}; pick another with --port") from None
    sock.set_inheritable(True)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}"
    from .protocol import protocol_with_header_timeout

    server = uvicorn.Server(uvicorn.Config(
        app, log_level=log_level, http=protocol_with_header_timeout(max(2 * idle_timeout_s, 10.0)),
        timeout_keep_alive=int(max(1, idle_timeout_s)),  # idle keep-alive connections are closed
        limit_concurrency=max_connections,  # beyond it new connections get 503 instead of piling up
        timeout_graceful_shutdown=int(max(1, shutdown_timeout_s)),  # SIGTERM: finish in-flight work, then stop
        h11_max_incomplete_event_size=64 * 1024,  # request line and headers
    ))
    if on_ready is not None:
        on_ready(f"serving {app.state.oculo.served_name} at {url} (Ollama /api, OpenAI {url}/v1)")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
