"""What the review page shows and saves, without any HTTP: a job's documents, their fields, and corrections.

The model's output (items.output) is never rewritten: a correction saves the whole corrected record beside it
(Store.correct), verified again against the document's own text, so the export can carry both.
"""

from __future__ import annotations

import copy
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..batch.store import ItemRow, ReviewRow, Store
from ..errors import InputError

__all__ = ["Document", "Field", "ReviewJob", "corrected_output", "fields_of", "newest_extract_job", "set_path"]

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_PATH = re.compile(r"[A-Za-z_][\w-]*(\[\d+\])?(\.[A-Za-z_][\w-]*(\[\d+\])?)*")
STATUS_ORDER = {"failed": 0, "warnings": 1, "ok": 2}


def newest_extract_job(store: Store) -> int | None:
    ids = [j.id for j in store.jobs() if j.task == "extract"]
    return ids[-1] if ids else None


def _steps(path: str) -> list[str | int]:
    return [name if name else int(index) for name, index in _STEP.findall(path)]


def get_path(data: Any, path: str) -> Any:
    for step in _steps(path):
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def set_path(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `data` with the value at `path` ("line_items[2].amount") replaced; the path must exist or be a
    top-level name."""
    if not _PATH.fullmatch(path):
        raise InputError(f"field {path[:80]!r} is not a field path like total or line_items[0].amount")
    out = copy.deepcopy(data)
    steps = _steps(path)
    node: Any = out
    for step in steps[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            raise InputError(f"field {path!r} is not in this record; correct one of the fields shown") from None
    last = steps[-1]
    if isinstance(node, dict) and isinstance(last, str):
        node[last] = value
    elif isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = value
    else:
        raise InputError(f"field {path!r} is not in this record; correct one of the fields shown")
    return out


def _leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list) and value and all(isinstance(v, (dict, list)) for v in value):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, value)]


def parse_value(text: str, old: Any) -> Any:
    """A person's text as the record's type: a number where the value was one, nothing for an empty box."""
    from ..checks.numbers import parse_number

    text = text.strip()
    if not text:
        return None
    if isinstance(old, (int, float)) and not isinstance(old, bool):
        try:
            return parse_number(text)
        except ValueError:
            return text  # kept as typed; verification reports it unreadable
    return text


@dataclass
class Field:
    path: str
    value: Any
    status: str  # ok | warning | failed (a value that cannot be read)
    warnings: list[dict[str, Any]]
    found: list[dict[str, Any]]  # [{page, box?}] where the value is printed
    corrected: bool = False
    checked: bool = False


def fields_of(data: Any, warnings: list[dict[str, Any]], found: dict[str, Any]) -> list[Field]:
    """Every value of the record, plus any path a warning names that the record lacks (so none goes unseen)."""
    leaves = _leaves(data) if isinstance(data, dict) else []
    paths = [p for p, _ in leaves]
    values = dict(leaves)
    for w in warnings:
        if w.get("field") not in values:
            paths.append(str(w.get("field", "")))
            values[str(w.get("field", ""))] = get_path(data, str(w.get("field", ""))) if w.get("field") else None
    out = []
    for p in dict.fromkeys(paths):
        ws = [w for w in warnings if w.get("field", "") == p]
        status = "failed" if any(w.get("code") == "unreadable" for w in ws) else "warning" if ws else "ok"
        out.append(Field(p, values[p], status, ws, list(found.get(p) or [])))
    return out


@dataclass
class Document:
    index: int  # 1-based, in the job's order: the only way a client names a document
    item: ItemRow
    review: ReviewRow | None
    schema: str

    @property
    def output(self) -> dict[str, Any]:
        return self.item.output if isinstance(self.item.output, dict) else {}

    @property
    def name(self) -> str:
        return Path(self.item.source or self.item.key[:12]).name

    @property
    def model_status(self) -> str:
        return str(self.output.get("status") or ("failed" if self.item.status == "failed" else "ok"))

    @property
    def data(self) -> Any:
        return self.review.data if self.review and self.review.data is not None else self.output.get("data")

    @property
    def verification(self) -> dict[str, Any]:
        if self.review and self.review.verification is not None:
            return dict(self.review.verification)
        return {"status": self.model_status, "warnings": list(self.output.get("warnings") or []),
                **({"found": self.output["found"]} if isinstance(self.output.get("found"), dict) else {})}

    @property
    def status(self) -> str:
        return str(self.verification.get("status") or self.model_status)

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return list(self.verification.get("warnings") or [])

    @property
    def approved(self) -> bool:
        return bool(self.review and self.review.approved)

    @property
    def pages(self) -> list[int]:
        pages = self.output.get("pages")
        return [int(p) for p in pages if isinstance(p, int)] if isinstance(pages, list) and pages else [1]


@dataclass
class _Source:
    text: str | None
    layout: Any
    size: dict[int, tuple[float, float]] = field(default_factory=dict)  # page -> (width, height) of the boxes


class ReviewJob:
    """One extraction job in the store, as the review page sees it; safe to use from server threads."""

    def __init__(self, store: Store, job_id: int) -> None:
        job = store.job(job_id)
        if job is None:
            raise InputError(f"no job {job_id} in {store.path}; `oculo jobs` lists the jobs there")
        if job.task != "extract":
            raise InputError(f"job {job_id} is a {job.task or 'non-extract'} job; review shows extraction jobs "
                             "(`oculo jobs` lists them)")
        self.store, self.job = store, job
        self.schema = _schema_of(job.command)
        self._sources: dict[str, _Source] = {}
        self._lock = threading.Lock()

    def documents(self) -> list[Document]:
        reviews = self.store.reviews(self.job.id)
        items = [it for it in self.store.items(self.job.id) if it.status != "pending"]
        return [Document(i, it, reviews.get(it.key), self.schema) for i, it in enumerate(items, 1)]

    def document(self, index: int) -> Document:
        docs = self.documents()
        if not 1 <= index <= len(docs):
            raise InputError(f"no document {index} in job {self.job.id}; it has {len(docs)}")
        return docs[index - 1]

    # -- the document's own text, for verification and boxes ------------------------------------

    def source(self, doc: Document) -> _Source:
        """Text and layout of a job's source file (read once); a file that is gone gives no text."""
        from ..checks.layout import layout_from_pdf
        from ..media.documents import open_document
        from ..tasks.extract import document_text

        path = doc.item.source or ""
        with self._lock:
            if path in self._sources:
                return self._sources[path]
        try:
            pages = open_document(path, max_pixels=1_000_000)
            text = document_text(pages, None, "none", "rapidocr")
            layout = layout_from_pdf(path) if any(p.text for p in pages) else None
            size = {p.index + 1: (p.width_pt, p.height_pt) for p in pages if p.width_pt and p.height_pt}
            src = _Source(text, layout, size)
        except Exception:  # noqa: BLE001 - a moved or unreadable file: the page says so, review goes on
            src = _Source(None, None)
        with self._lock:
            self._sources[path] = src
        return src

    def verify(self, doc: Document, data: Any) -> dict[str, Any]:
        from ..checks import verify

        src = self.source(doc)
        return verify(data, src.text, schema=self.schema, layout=src.layout).to_dict()

    def found(self, doc: Document) -> dict[str, Any]:
        """Where each value is printed: the record's own `found`, else verification with the PDF's boxes."""
        if isinstance(doc.verification.get("found"), dict):
            return dict(doc.verification["found"])
        if doc.data is None or self.source(doc).text is None:
            return {}
        return dict(self.verify(doc, doc.data).get("found") or {})

    def render_page(self, doc: Document, page: int) -> bytes:
        from io import BytesIO

        from ..media.documents import open_document

        if page not in doc.pages:
            raise InputError(f"page {page} is not a page of {doc.name}; it has pages {doc.pages}")
        image = open_document(doc.item.source or "", pages=str(page), max_pixels=2_000_000)[0].image
        buf = BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue()

    # -- a person's actions -----------------------------------------------------------------------

    def correct(self, doc: Document, path: str, text: str) -> ReviewRow:
        data = doc.data
        if not isinstance(data, dict):
            raise InputError(f"{doc.name} has no record to correct (the extraction failed without one)")
        known = {f.path for f in fields_of(data, doc.warnings, {})}
        if path not in known:
            raise InputError(f"field {path[:80]!r} is not in this record; correct one of the fields shown")
        value = parse_value(text, get_path(data, path))
        new = set_path(data, path, value)
        return self.store.correct(self.job.id, doc.item.key, path, value, new, self.verify(doc, new))

    def mark_checked(self, doc: Document, path: str, checked: bool) -> ReviewRow:
        if path not in {f.path for f in fields_of(doc.data, doc.warnings, {})}:
            raise InputError(f"field {path[:80]!r} is not in this record; check one of the fields shown")
        return self.store.mark_checked(self.job.id, doc.item.key, path, checked)

    def approve(self, doc: Document) -> ReviewRow:
        return self.store.approve(self.job.id, doc.item.key)


def _schema_of(command: Any) -> str:
    """The schema `oculo extract` ran with (its --schema), as verify names it: invoice, receipt or custom."""
    from ..schemas import BUILTIN

    argv = [str(a) for a in command] if isinstance(command, list) else []
    name = "invoice"  # extract's default
    for i, arg in enumerate(argv):
        if arg == "--schema" and i + 1 < len(argv):
            name = argv[i + 1]
        elif arg.startswith("--schema="):
            name = arg.split("=", 1)[1]
    return name.lower() if name.lower() in BUILTIN else "custom"


def corrected_output(output: Any, review: ReviewRow | None) -> Any:
    """The record as exported with --corrected: the person's values and their verification, plus what was done."""
    if review is None:
        if isinstance(output, dict):
            return {**output, "review": {"corrected": [], "checked": [], "approved": None}}
        return output
    out = dict(output) if isinstance(output, dict) else {}
    if review.data is not None:
        v = review.verification or {}
        out["data"] = review.data
        out["status"] = v.get("status", out.get("status"))
        out["warnings"] = v.get("warnings", [])
        if out["status"] == "ok" and out["warnings"]:
            out["status"] = "warnings"
    out["review"] = {"corrected": list(review.corrected), "checked": list(review.checked),
                     "approved": review.approved, "model_status": (output or {}).get("status")
                     if isinstance(output, dict) else None}
    return out
