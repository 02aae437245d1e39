"""`oculo serve`: one engine behind Ollama- and OpenAI-compatible HTTP APIs, and oculo's own task routes.

Engine calls block (the in-process engine computes on the calling thread), so every call runs on a worker
thread behind a semaphore sized by `Capabilities.parallel`; the event loop only moves bytes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..engines.base import Chunk, Engine, Reply, Request

__all__ = ["create_app", "run", "Runtime"]

_END = object()


class Runtime:
    """The engine plus the admission rules shared by both protocols (lives in `app.state.oculo`)."""

    def __init__(self, engine: Engine, served_name: str | None = None, max_queue: int = 512) -> None:
        self.engine = engine
        self.served_name = served_name or default_served_name(engine.model)
        self.caps = engine.capabilities()
        self.parallel = max(1, self.caps.parallel)
        self.max_queue = max(0, max_queue)
        self.inflight = 0  # admitted and not finished: running + waiting for a slot (+ decoding images)
        self.started_at = datetime.now(timezone.utc)
        self._slots: asyncio.Semaphore | None = None
        self._batcher: _Batcher | None = None
        self._limits: Any = None

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

    def limits(self) -> Any:
        if self._limits is None:
            from .wire import image_limits

            self._limits = image_limits(self.caps)
        return self._limits

    def check_model(self, name: str | None) -> None:
        from .wire import check_model

        check_model(name, self.served_name, self.engine.model)

    def _admit(self) -> None:
        from .wire import BUSY, ServerBusy

        # `max_queue` counts requests waiting for the engine, as Ollama's OLLAMA_MAX_QUEUE does; running ones are extra.
        if self.inflight >= self.parallel + self.max_queue:
            raise ServerBusy(BUSY)
        self.inflight += 1

    def _leave(self) -> None:
        self.inflight -= 1

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Admitted and holding the engine: for work of several engine calls (a comparison by descriptions)."""
        self._admit()
        try:
            async with self.slots:
                yield
        finally:
            self._leave()

    async def generate(self, build: Callable[[], Request]) -> tuple[Request, Reply, float]:
        """Build the request (image decoding is CPU work, so off the loop), then answer it; returns wall seconds too."""
        import anyio

        from .wire import wrap_engine_error

        self._admit()
        t0 = time.perf_counter()
        try:
            request = await anyio.to_thread.run_sync(build)
            if self.caps.batch > 1:
                reply = await self.batcher.submit(request)
            else:
                async with self.slots:
                    try:
                        reply = (await anyio.to_thread.run_sync(self.engine.generate, [request]))[0]
                    except Exception as e:
                        raise wrap_engine_error(e) from e
            return request, reply, time.perf_counter() - t0
        finally:
            self._leave()

    async def stream(self, build: Callable[[], Request]) -> tuple[Request, AsyncIterator[Chunk]]:
        """Start streaming; raises before returning if the engine fails before its first chunk.

        So an unsupported request or a model that fails to load still gets a proper status code; after the
        first chunk the HTTP status is sent and errors can only travel inside the stream.
        """
        import anyio

        self._admit()
        handed_over = False
        try:
            request = await anyio.to_thread.run_sync(build)
            await self.slots.acquire()
            pump = _Pump(self, request)  # owns the slot and the admission from here on
            handed_over = True
            try:
                first = await pump.next()
            except BaseException:
                pump.stop.set()
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
        import anyio

        from .wire import wrap_engine_error

        while True:
            batch = [await self.queue.get()]
            async with self.runtime.slots:  # the engine stays exclusive, streams included
                # Whatever queued while the engine was busy joins this batch.
                while len(batch) < self.max_batch and not self.queue.empty():
                    batch.append(self.queue.get_nowait())
                live = [(r, f) for r, f in batch if not f.cancelled()]
                if not live:
                    continue
                try:
                    replies = await anyio.to_thread.run_sync(self.runtime.engine.generate, [r for r, _ in live])
                except Exception as e:
                    err = wrap_engine_error(e)
                    for _, f in live:
                        if not f.done():
                            f.set_exception(err)
                    continue
            for (_, f), reply in zip(live, replies):
                if not f.done():
                    f.set_result(reply)


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
        pump.stop.set()


def default_served_name(model: str) -> str:
    """`/models/Qwen2.5-VL-3B-Instruct/` and `Qwen/Qwen2.5-VL-3B-Instruct` are served as `Qwen2.5-VL-3B-Instruct`."""
    return model.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1] or model


def create_app(engine: Engine, served_name: str | None = None, *, max_queue: int = 512) -> FastAPI:
    from fastapi import FastAPI, Request as HTTPRequest
    from fastapi.exceptions import RequestValidationError

    from ..errors import OculoError
    from . import ollama_routes, openai_routes, task_routes
    from .wire import error_response, one_line, status_for

    app = FastAPI(title="oculo", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.oculo = Runtime(engine, served_name, max_queue)

    @app.exception_handler(OculoError)
    async def _oculo_error(request: HTTPRequest, exc: OculoError) -> Any:
        return error_response(request.url.path, status_for(exc), str(exc))

    @app.exception_handler(RequestValidationError)
    async def _bad_body(request: HTTPRequest, exc: RequestValidationError) -> Any:
        # Both servers answer a malformed body with 400 and one line, not FastAPI's 422 list.
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:])
        msg = "invalid JSON body" if first.get("type") == "json_invalid" else f"{where}: {first.get('msg', 'invalid')}"
        return error_response(request.url.path, 400, f"invalid request: {one_line(msg)}")

    app.include_router(ollama_routes.router)
    app.include_router(openai_routes.router)
    app.include_router(task_routes.router)
    return app


def run(engine: Engine, *, host: str = "127.0.0.1", port: int = 11434, served_name: str | None = None,
        max_queue: int = 512, log_level: str = "info") -> None:
    """Serve until interrupted. The caller owns the engine and closes it afterwards."""
    import uvicorn

    uvicorn.run(create_app(engine, served_name, max_queue=max_queue), host=host, port=port, log_level=log_level)
