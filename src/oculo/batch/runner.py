"""Run many items through a `work` function: skip what is cached, retry what is transient, record everything.

Threads only call `work`; every store write and every callback happens in the calling thread, so the
store needs no cross-thread coordination and a writer can append results as they finish.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import is_transient, one_line, without_source
from .store import Store

__all__ = ["Item", "Result", "RunSummary", "Submit", "Work", "run_items"]


@dataclass(frozen=True)
class Item:
    key: str  # from store.item_key: equal keys mean equal work
    source: str | None
    part: str | None = None
    payload: Any = None


@dataclass
class Result:
    output: dict[str, Any] | None = None
    error: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    transient: bool = False  # worth retrying: server busy or unreachable, not a bad input
    cached: bool = False
    attempts: int = 0


@dataclass
class RunSummary:
    total: int = 0
    done: int = 0  # finished OK, cached ones included
    cached: int = 0
    failed: int = 0
    seconds: float = 0.0
    generated_tokens: int = 0
    results: list[Result | None] = field(default_factory=list, repr=False)  # in input order

    @property
    def finished(self) -> int:
        return self.done + self.failed


Work = Callable[[list[Any]], Sequence[Result]]
# Where a batch of payloads runs (an executor: Ray actors, say); the future holds one Result per payload.
Submit = Callable[[list[Any]], "Future[list[Result]]"]


def _call(work: Work, payloads: list[Any]) -> list[Result]:
    """One call of `work`; a raised exception becomes an error for every item of the batch.

    Only a transient exception (server down, busy, slow: `errors.is_transient`) is marked for a retry; a bad
    input, a missing program or a refusal fails the same way every time, so it is not.
    """
    try:
        results = list(work(payloads))
    except Exception as e:  # noqa: BLE001 - one bad batch must not stop the job
        return [Result(None, one_line(e), {}, is_transient(e)) for _ in payloads]
    if len(results) != len(payloads):
        msg = f"work returned {len(results)} results for {len(payloads)} items"
        return [Result(None, msg, {}, False) for _ in payloads]
    return results


def _attempt(work: Work, payloads: list[Any], retries: int, backoff_s: float,
             stop: threading.Event) -> list[Result]:
    """Call `work`, then retry only the transiently failed items, with exponential backoff."""
    results = _call(work, payloads)
    for r in results:
        r.attempts = 1
    for n in range(retries):
        again = [i for i, r in enumerate(results) if r.error is not None and r.transient]
        if not again or stop.wait(min(backoff_s * 2 ** n, 60.0)):
            break
        for i, r in zip(again, _call(work, [payloads[i] for i in again])):
            r.attempts = results[i].attempts + 1
            results[i] = r
    return results


def run_items(items: Sequence[Item], work: Work, *, store: Store, job_id: int, concurrency: int = 1,
              batch_size: int = 1, force: bool = False, retries: int = 3, backoff_s: float = 0.5,
              on_progress: Callable[[RunSummary], Any] | None = None,
              on_result: Callable[[Item, Result], Any] | None = None,
              submit: Submit | None = None) -> RunSummary:
    """Run `items` through `work` and record each outcome in `store` under `job_id` as soon as it is known.

    Items already done in this job or in the results cache are not run again (unless `force`).
    Items sharing a key run once. On KeyboardInterrupt no new batch starts, the batches in flight are
    abandoned unrecorded, the job is marked interrupted, and the interrupt is raised again.
    `submit` runs batches elsewhere instead of in local threads (it then owns `work` and the retries);
    the store, the keys and the callbacks stay here either way.
    """
    start = time.monotonic()
    items = list(items)
    summary = RunSummary(total=len(items), results=[None] * len(items))
    positions: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        positions.setdefault(it.key, []).append(i)
    first = {key: items[pos[0]] for key, pos in positions.items()}
    store.add_items(job_id, [(it.key, it.source, it.part) for it in first.values()])
    store.set_job_status(job_id, "running")

    def report() -> None:
        summary.seconds = time.monotonic() - start
        if on_progress is not None:
            on_progress(replace(summary, results=[]))

    def finish(key: str, result: Result) -> None:
        for i in positions[key]:
            summary.results[i] = result
            if result.error is None:
                summary.done += 1
                summary.cached += result.cached
            else:
                summary.failed += 1
            if on_result is not None:
                on_result(items[i], result)
        if not result.cached:
            summary.generated_tokens += int((result.stats or {}).get("generated_tokens") or 0)
        report()

    todo: list[Item] = []
    done_here = set() if force else store.done_keys(job_id)
    for key, it in first.items():
        hit = None if force else store.cached(key)
        if hit is None:
            todo.append(it)
            continue
        result = Result(hit["output"], None, hit["stats"] or {}, cached=True)
        if key not in done_here:  # found in another job's results: this job now has it too
            store.record(job_id, key, it.source, it.part, "done", hit["output"], None, 0, hit["stats"])
        finish(key, result)
    report()

    batches = [todo[i:i + batch_size] for i in range(0, len(todo), max(1, batch_size))]
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="oculo-batch")
    inflight: dict[Future[list[Result]], list[Item]] = {}
    next_batch = 0
    try:
        while next_batch < len(batches) or inflight:
            # A short queue keeps Ctrl-C responsive: little is submitted that would then have to be abandoned.
            while next_batch < len(batches) and len(inflight) < 2 * max(1, concurrency):
                batch = batches[next_batch]
                next_batch += 1
                payloads = [it.payload for it in batch]
                fut = (submit(payloads) if submit is not None
                       else pool.submit(_attempt, work, payloads, retries, backoff_s, stop))
                inflight[fut] = batch
            completed, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            for fut in completed:
                batch = inflight.pop(fut)
                for it, result in zip(batch, fut.result()):
                    if result.error is not None:  # listings print the source beside the error: name it once
                        result.error = without_source(" ".join(result.error.split()), it.source)
                    status = "done" if result.error is None else "failed"
                    store.record(job_id, it.key, it.source, it.part, status, result.output, result.error,
                                 result.attempts, result.stats)
                    finish(it.key, result)
    except BaseException:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        store.set_job_status(job_id, "interrupted")
        raise
    pool.shutdown(wait=True)
    store.set_job_status(job_id, "finished")
    report()
    return summary
