"""Run a job's `work` on Ray actors: same items, keys and store; only where the engine calls happen changes.

Each actor holds ONE engine, rebuilt from its recipe (engine name, model, settings) when the actor starts, and
calls the job's `work` on the batches the driver sends it. The driver (`run_items`) keeps the job store: each
batch's results come back as a future and are written as they arrive, so killing the driver loses nothing
already stored and a rerun skips it. A worker that dies mid-batch is restarted and the batch retried by Ray
(`max_restarts`, `max_task_retries`); a batch that still kills its worker is split and its items retried one by
one, so a poison item fails alone.

First cut, on purpose: payloads are what the local runner sends (paths, or bytes for URLs and stdin), so the
files must be readable at the same path on every node (a shared filesystem), and reading and decoding happen
inside the actor, beside the model, not as a separate CPU stage.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..engines import Engine, EngineSettings, open_engine
from ..errors import NotInstalled, OculoError
from .runner import Result, Work, _attempt

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["RayExecutor", "WorkerStats", "require_ray"]

INSTALL = "pip install 'oculo[ray]'"


def require_ray() -> None:
    """A one-line error, before any work starts, when Ray is not installed."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise NotInstalled(f"--executor ray needs Ray; install it with `{INSTALL}`") from None


def pickle_work(work: Work, settings: EngineSettings | None) -> bytes:
    """`work` as bytes in which every engine it reaches is its recipe, not its loaded state.

    A model's weights, a client's connection pool or a tesseract lock do not travel; each actor opens its
    own engine with `open_engine(name, model, settings)` when it unpickles the work, once.
    """
    from ray import cloudpickle

    class _Pickler(cloudpickle.CloudPickler):
        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, Engine):
                return open_engine, (obj.name, obj.model, settings)
            return super().reducer_override(obj)

    import io

    buf = io.BytesIO()
    _Pickler(buf).dump(work)
    return buf.getvalue()


class _Worker:
    """One Ray actor: one engine, the job's `work`, and the runner's own retries of transient failures."""

    def __init__(self, blob: bytes, retries: int, backoff_s: float) -> None:
        import pickle

        self.work = pickle.loads(blob)
        self.retries, self.backoff_s = retries, backoff_s

    def run(self, payloads: list[Any]) -> tuple[list[Result], float, str]:
        import ray

        t0 = time.perf_counter()
        results = _attempt(self.work, payloads, self.retries, self.backoff_s, threading.Event())
        return results, time.perf_counter() - t0, ray.get_runtime_context().get_node_id()[:8]


@dataclass
class WorkerStats:
    worker: int
    node: str | None = None
    items: int = 0
    busy_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        rate = self.items / self.busy_s if self.busy_s > 0 else None
        return {"worker": self.worker, "node": self.node, "items": self.items, "busy_s": round(self.busy_s, 3),
                "items_per_s": None if rate is None else round(rate, 2)}


class RayExecutor:
    """A pool of actors with the runner's `submit` signature: payloads in, a future of Results out."""

    def __init__(self, work: Work, settings: EngineSettings | None, engine: Engine | None = None, *,
                 address: str | None = None, workers: int | None = None, retries: int = 3, backoff_s: float = 0.5,
                 worker_restarts: int = 2) -> None:
        require_ray()
        import ray

        try:  # before any cluster starts: work that cannot travel is one line, and nothing is left running
            blob = pickle_work(work, settings)
        except Exception as e:  # noqa: BLE001 - pickling fails with many classes of error
            raise OculoError(f"this job's work cannot be sent to Ray workers ({_brief(e)}); "
                             "run it with --executor local") from None
        self._started = not ray.is_initialized()
        if self._started:
            init: dict[str, Any] = {"address": address, "include_dashboard": False, "log_to_driver": False,
                                    "logging_level": logging.WARNING}
            if not address and not os.environ.get("RAY_ADDRESS"):
                init["_node_ip_address"] = "127.0.0.1"  # a cluster of this machine only: loopback is enough
            _probe(address or os.environ.get("RAY_ADDRESS"))
            try:
                ray.init(**init)
            except Exception as e:  # noqa: BLE001 - Ray's own errors name classes and span lines
                raise OculoError(f"{address or os.environ.get('RAY_ADDRESS') or 'the local Ray cluster'}: "
                                 f"Ray did not start ({_brief(e)}); check --ray-address / RAY_ADDRESS, "
                                 "or `ray status` on the head node") from None
        resources = ray.cluster_resources()
        gpus = _gpus_per_worker(engine, settings, resources)
        server = engine is not None and engine.name in ("ollama", "openai")
        if workers is None:
            if gpus:
                workers = int(resources.get("GPU", 0))
            elif server:  # a client waits on the network: as many as the server has slots
                workers = max(1, engine.capabilities().parallel)  # type: ignore[union-attr]
            else:
                workers = int(resources.get("CPU", 1))
        self.workers = max(1, workers)
        self.attempts = 1 + worker_restarts
        actor = ray.remote(_Worker).options(
            num_cpus=0 if server else 1, num_gpus=gpus, max_restarts=worker_restarts,
            max_task_retries=worker_restarts)
        # The work is passed by value, not as an object-store ref: a restarted actor must still find its arguments.
        self._new_actor: Callable[[], Any] = lambda: actor.remote(blob, retries, backoff_s)
        self._actors: list[Any] = [self._new_actor() for _ in range(self.workers)]  # Ray's handles, untyped here
        self._load = [0] * self.workers
        self._lock = threading.Lock()
        self.stats = [WorkerStats(i) for i in range(self.workers)]

    def submit(self, payloads: list[Any]) -> Future[list[Result]]:
        out: Future[list[Result]] = Future()
        self._submit(payloads, out)
        return out

    def _submit(self, payloads: list[Any], out: Future[list[Result]]) -> None:
        with self._lock:
            i = min(range(self.workers), key=self._load.__getitem__)  # the least busy actor
            self._load[i] += 1
            handle = self._actors[i]
        ref = handle.run.remote(payloads)
        ref.future().add_done_callback(lambda f: self._done(f, i, handle, payloads, out))

    def _done(self, f: Future[Any], i: int, handle: Any, payloads: list[Any], out: Future[list[Result]]) -> None:
        with self._lock:
            self._load[i] -= 1
        try:
            results, seconds, node = f.result()
        except Exception as e:  # noqa: BLE001 - the worker died on every attempt, or Ray failed the task
            # Off Ray's callback thread: starting actors and tasks from its completion callback is not its contract.
            threading.Thread(target=self._failed, args=(e, i, handle, payloads, out), daemon=True).start()
            return
        with self._lock:
            s = self.stats[i]
            s.node, s.items, s.busy_s = node, s.items + len(payloads), s.busy_s + seconds
        out.set_result(results)

    def _failed(self, e: Exception, i: int, handle: Any, payloads: list[Any], out: Future[list[Result]]) -> None:
        from ray.exceptions import RayActorError

        if isinstance(e, RayActorError):
            with self._lock:  # its restarts are spent: a fresh worker takes its place for what follows
                if self._actors and self._actors[i] is handle:
                    self._actors[i] = self._new_actor()
        if len(payloads) > 1:  # find the poison item: each goes again alone, and only it fails
            self._split(payloads, out)
            return
        what = (f"the Ray worker running it died on each of its {self.attempts} attempts"
                if isinstance(e, RayActorError) else f"Ray could not run it ({_brief(e)})")
        out.set_result([Result(None, f"{what}; see the worker's log (`ray logs`) for why",
                               attempts=self.attempts)])

    def _split(self, payloads: list[Any], out: Future[list[Result]]) -> None:
        parts: list[Future[list[Result]]] = [Future() for _ in payloads]
        left = [len(parts)]

        def one_done(_: Future[list[Result]]) -> None:
            with self._lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                out.set_result([p.result()[0] for p in parts])

        for p in parts:
            p.add_done_callback(one_done)
        for payload, p in zip(payloads, parts):
            self._submit([payload], p)

    def report(self, mode: str, stream: Any = None) -> None:
        """Per-worker throughput on stderr, after the run: a line each, or one JSON object with --progress json."""
        stream = stream if stream is not None else sys.stderr
        if mode == "off":
            return
        rows = [s.to_dict() for s in self.stats]
        if mode == "json":
            import json

            stream.write(json.dumps({"event": "workers", "executor": "ray", "workers": rows}) + "\n")
            return
        for r in rows:
            rate = "-" if r["items_per_s"] is None else f"{r['items_per_s']:.2f}"
            stream.write(f"ray worker {r['worker']} ({r['node'] or 'idle'}): {r['items']} items, "
                         f"{rate} items/s while busy\n")

    def close(self) -> None:
        import ray

        for a in self._actors:
            ray.kill(a)
        self._actors = []
        if self._started:
            ray.shutdown()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _brief(e: BaseException) -> str:
    """Ray's and pickle's own words on one line, without their class names or tracebacks."""
    text = " ".join(str(e).split()) or "no reason given"
    return text if len(text) <= 200 else text[:199] + "…"


def _probe(address: str | None) -> None:
    """A cluster address that answers nothing is one line now, not minutes of Ray retrying in the background."""
    if not address or "://" in address or address == "auto" or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except (OSError, ValueError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or "timed out"
        raise OculoError(f"{address}: no Ray cluster answers there ({why}); start one with "
                         "`ray start --head`, or fix --ray-address / RAY_ADDRESS") from None


def _gpus_per_worker(engine: Engine | None, settings: EngineSettings | None, resources: dict[str, float]) -> int:
    """One GPU per actor for the in-process model on CUDA; none for classic OCR or a model server's client."""
    if engine is None or engine.name != "transformers" or not resources.get("GPU"):
        return 0
    device = (settings.device if settings else None) or "cuda"
    return 1 if device.startswith("cuda") else 0
