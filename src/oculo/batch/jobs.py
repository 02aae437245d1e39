"""Task commands as resumable jobs: inputs become keyed items, an engine call becomes `work`, results are stored."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engines import Engine, EngineSettings, ImagePart, Options, Request
from ..errors import OculoError, is_transient
from .progress import Progress
from .runner import Item, Result, RunSummary, run_items
from .store import Store, content_hash, file_hash, item_key, job_signature

__all__ = ["JobSpec", "PartCache", "run_image_job", "run_document_job", "run_page_job", "options_key"]


def options_key(options: Options) -> dict[str, Any]:
    return {"max_tokens": options.max_tokens, "temperature": options.temperature, "seed": options.seed,
            "stop": list(options.stop), "extra": options.extra}


@dataclass
class JobSpec:
    """What makes two runs the same work: the task, the model, its settings and the prompt or schema.

    How many items run at once and how many share one engine call come from the engine's `Capabilities`
    (`parallel`, `batch`), whatever the engine is: a model server, the in-process model or classic OCR.
    `command` is what the job store shows as the job's command line; the CLI passes its own argv.
    `executor` is where `work` runs: local threads, or Ray actors that each open the engine again from
    (name, model, `engine_settings`) on the cluster at `ray_address` (RAY_ADDRESS, else a local one).
    """

    task: str
    engine: Engine
    prompt_or_schema: Any
    options: dict[str, Any] = field(default_factory=dict)
    store: str | None = None
    force: bool = False
    concurrency: int | None = None  # overrides the engine's parallel slots (--concurrency)
    progress: str = "auto"
    command: Sequence[str] = ()
    executor: str = "local"  # local | ray
    ray_address: str | None = None
    engine_settings: EngineSettings | None = None  # how a Ray actor opens its own copy of `engine`

    @property
    def engine_name(self) -> str:
        return self.engine.name

    @property
    def model(self) -> str:
        return self.engine.model

    def default_concurrency(self) -> int:
        # In-process, one engine call already batches (parallel 1); against a server, N requests in flight keep
        # its slots busy; tesseract runs one single-threaded process per page, one per core.
        return max(1, self.engine.capabilities().parallel)

    def batch_size(self) -> int:
        """Items per engine call: the in-process model's batch, 1 for engines that take one request at a time."""
        return max(1, self.engine.capabilities().batch)


def _transient(e: BaseException) -> bool:
    # A server that is down, busy or slow may come back (re-raised so the runner retries the batch); a bad input,
    # a missing program or a refused request will not (recorded as the item's error at once).
    return is_transient(e)


def _run(spec: JobSpec, items: list[Item], work: Callable[[list[Any]], Sequence[Result]],
         on_result: Callable[[Item, Result], Any]) -> tuple[RunSummary, int]:
    if spec.executor == "ray":
        return _run_on_ray(spec, items, work, on_result)
    concurrency = spec.concurrency or spec.default_concurrency()
    batch_size = spec.batch_size()
    with Store(spec.store) as store:
        job_id = _job_id(store, spec, [it.source or it.key for it in items])
        with Progress(len(items), mode=spec.progress, label=spec.task) as progress:  # type: ignore[arg-type]
            summary = run_items(items, work, store=store, job_id=job_id, concurrency=concurrency,
                                batch_size=batch_size, force=spec.force, on_progress=progress,
                                on_result=on_result)
    return summary, job_id


def _run_on_ray(spec: JobSpec, items: list[Item], work: Callable[[list[Any]], Sequence[Result]],
                on_result: Callable[[Item, Result], Any]) -> tuple[RunSummary, int]:
    """The same run, with each batch sent to a Ray actor; the store stays here, written as results arrive."""
    from .ray_executor import RayExecutor

    # The cluster first: one that cannot be reached leaves no empty job behind in the store.
    with RayExecutor(work, spec.engine_settings, spec.engine, address=spec.ray_address,
                     workers=spec.concurrency) as pool, Store(spec.store) as store:
        job_id = _job_id(store, spec, [it.source or it.key for it in items])
        with Progress(len(items), mode=spec.progress, label=spec.task) as progress:  # type: ignore[arg-type]
            summary = run_items(items, work, store=store, job_id=job_id, concurrency=pool.workers,
                                batch_size=spec.batch_size(), force=spec.force, on_progress=progress,
                                on_result=on_result, submit=pool.submit)
        pool.report(spec.progress)
    return summary, job_id


def _job_id(store: Store, spec: JobSpec, inputs: Sequence[str]) -> int:
    """The job this run continues (same work over the same inputs), or a new one."""
    signature = job_signature(spec.task, spec.model, spec.engine_name, spec.options, spec.prompt_or_schema, inputs)
    return store.find_job(signature) or store.create_job(
        signature, command=list(spec.command), task=spec.task, model=spec.model, engine=spec.engine_name,
        options=spec.options)


def _key(spec: JobSpec, data_hash: str, part: str | None = None, extra: Any = None) -> str:
    what = spec.prompt_or_schema if extra is None else {"job": spec.prompt_or_schema, "item": extra}
    return item_key(data_hash, spec.task, spec.model, what, spec.options, part=part)


def run_image_job(spec: JobSpec, sources: Sequence[Any], build: Callable[[ImagePart], Request],
                  on_result: Callable[[Item, Result], Any],
                  item_extra: Callable[[str], Any] | None = None,
                  post: Callable[[ImagePart, dict[str, Any]], dict[str, Any]] | None = None) -> tuple[RunSummary, int]:
    """One request per image; decoding happens in the worker threads, so the CPU keeps pace with the model.

    `item_extra(source name)` adds what makes one item's prompt its own (alt text's page context) to its key.
    `post(image, record)` finishes a record in the worker (a task's post-check), so the store keeps it checked.
    """
    from ..media.documents import is_pdf, open_document, page_numbers
    from ..media.images import ImageLimits, load
    from ..media.sources import Source

    engine = spec.engine
    limits = ImageLimits.from_capabilities(engine.capabilities())
    items = []
    for src in sources:
        try:
            data = src.read()
            if src.url:  # fetched once: the worker decodes these bytes instead of downloading again
                src = Source.from_bytes(data, src.name)
            digest = content_hash(data)
            # A PDF is one item per page, so a long document resumes page by page.
            pages = len(page_numbers(Source.from_bytes(data, src.name))) if is_pdf(data) else 0
        except OculoError as e:  # an unreadable input fails alone, under its own name
            items.append(Item(_key(spec, "unreadable:" + src.name), src.name, None, (src, None, str(e))))
            continue
        extra = item_extra(src.name) if item_extra else None
        if pages:
            items += [Item(_key(spec, digest, f"page {n}", extra), src.name, f"page {n}", (src, n, None))
                      for n in range(1, pages + 1)]
        else:
            items.append(Item(_key(spec, digest, None, extra), src.name, None, (src, None, None)))

    def decode(src: Any, page: int | None) -> ImagePart:
        if page is None:
            return load(src, limits)
        doc = open_document(src, pages=str(page), max_pixels=limits.max_pixels, min_side=limits.min_side)
        return ImagePart(doc[0].image, f"{src.name} page {page}")

    def work(payloads: list[Any]) -> list[Result]:
        results: list[Result | None] = [None] * len(payloads)
        ready: list[tuple[int, ImagePart, Request]] = []
        for i, (src, page, error) in enumerate(payloads):
            try:
                if error:
                    raise OculoError(error)
                part = decode(src, page)
                ready.append((i, part, build(part)))
            except OculoError as e:
                results[i] = Result(None, str(e))
        if ready:
            try:
                replies = engine.generate([r for _, _, r in ready])
            except OculoError as e:
                if _transient(e):
                    raise
                replies = None
                for i, _, _ in ready:
                    results[i] = Result(None, str(e))
            for (i, part, _), reply in zip(ready, replies or []):
                src, page, _ = payloads[i]
                out = {"source": src.name, **({"page": page} if page else {}), **reply.to_dict()}
                try:
                    out = post(part, out) if post else out
                except OculoError as e:
                    results[i] = Result(None, str(e))
                    continue
                results[i] = Result(out, reply.error, reply.stats.to_dict())
        return [r if r is not None else Result(None, "no result") for r in results]

    return _run(spec, items, work, on_result)


def run_document_job(spec: JobSpec, paths: Sequence[Path], process: Callable[[Path], Any],
                     on_result: Callable[[Item, Result], Any]) -> tuple[RunSummary, int]:
    """One document per item (all its pages); `process` returns an ExtractResult-like object with to_dict()."""
    items = [Item(_key(spec, content_hash(Path(p).read_bytes())), str(p), None, Path(p)) for p in paths]

    def work(payloads: list[Path]) -> list[Result]:
        out = []
        for path in payloads:
            try:
                result = process(path)
            except OculoError as e:
                if _transient(e):
                    raise
                out.append(Result(None, str(e)))
                continue
            d = result.to_dict()
            failed = d.get("status") == "failed"
            out.append(Result(d, (d.get("error") or "failed") if failed else None, d.get("stats") or {}))
        return out

    return _run(spec, items, work, on_result)


def run_page_job(spec: JobSpec, paths: Sequence[Path], pages: str | None,
                 process: Callable[[Path, list[int]], Sequence[dict[str, Any]]],
                 on_result: Callable[[Item, Result], Any]) -> tuple[RunSummary, int]:
    """One item per page (PDF pages, TIFF frames; an image is one page), so a long document resumes page by page.

    `process(path, page numbers)` handles the pages of one document that share a batch and returns one record
    per page with its "page"; a document that cannot be opened fails alone, under its own name.
    """
    from ..media.documents import is_pdf, page_numbers
    from ..media.sources import Source

    items = []
    for path in paths:
        name = str(path)
        try:
            data = Path(path).read_bytes()
            numbers = page_numbers(Source.from_bytes(data, name), pages=pages)
        except (OSError, OculoError) as e:
            reason = str(e) if isinstance(e, OculoError) else f"{name}: cannot read ({e.strerror or e})"
            items.append(Item(_key(spec, "unreadable:" + name), name, None, (path, None, reason)))
            continue
        digest = content_hash(data)
        paged = is_pdf(data) or numbers != [1]
        items += [Item(_key(spec, digest, f"page {n}" if paged else None), name, f"page {n}" if paged else None,
                       (path, n, None)) for n in numbers]

    def work(payloads: list[Any]) -> list[Result]:
        results: list[Result | None] = [None] * len(payloads)
        by_doc: dict[Any, list[tuple[int, int]]] = {}
        for i, (path, n, error) in enumerate(payloads):
            if error:
                results[i] = Result(None, error)
            else:
                by_doc.setdefault(path, []).append((i, n))
        for path, members in by_doc.items():
            try:
                records = {r["page"]: r for r in process(path, [n for _, n in members])}
            except OculoError as e:
                if _transient(e):
                    raise
                records, error = {}, str(e)
            else:
                error = "no result for this page"
            for i, n in members:
                d = records.get(n)
                results[i] = Result(d, d.get("error"), d.get("stats") or {}) if d else Result(None, error)
        return [r if r is not None else Result(None, "no result") for r in results]

    return _run(spec, items, work, on_result)


class PartCache:
    """The finished parts of one long input (a video's frames, its summary) in the job store.

    Parts of a video are found while it is decoded, not listed up front, so they bypass `run_items`: each is
    looked up before the model sees it and recorded as soon as it is done; a rerun after a crash skips them.
    """

    def __init__(self, spec: JobSpec, path: str | Path) -> None:
        self.spec, self.source = spec, str(path)
        try:
            self.digest = file_hash(Path(path))
        except OSError as e:
            raise OculoError(f"{path}: cannot read ({e.strerror or e}); check the path") from None
        self.store = Store(spec.store)
        self.job_id = _job_id(self.store, spec, [self.source])

    def _key(self, part: str) -> str:
        return _key(self.spec, self.digest, part)

    def lookup(self, part: str) -> dict[str, Any] | None:
        if self.spec.force:
            return None
        key = self._key(part)
        found = self.store.cached(key)
        if found is None:
            return None
        self.store.record(self.job_id, key, self.source, part, "done", found["output"], stats=found["stats"])
        return found["output"]

    def save(self, part: str, output: dict[str, Any], error: str | None, stats: dict[str, Any]) -> None:
        self.store.record(self.job_id, self._key(part), self.source, part, "failed" if error else "done", output,
                          error=error, attempts=1, stats=stats)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> PartCache:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

