"""Schema extraction from documents: pages in, validated JSON out, every number checked against the document.

Structure is enforced by the engine (Ollama `format`, OpenAI `response_format`, in-process grammar) and then
validated here; an answer that still fails is retried with the error fed back at a rising temperature, as
olmOCR does, and finally reported for that document, never written as a silent bad record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..engines import Engine, ImagePart, Options, Reply, Request, Stats
from ..errors import OculoError
from .prompts import fill, prompt

__all__ = ["ExtractResult", "extract_document", "document_text", "TEMPERATURES", "merge_records"]

# Bounded retries: greedy first, then a little randomness to leave a rut the model keeps falling into.
TEMPERATURES = (0.0, 0.3, 0.6, 0.8)
ANCHOR_CHARS = 6000  # enough for a dense invoice page; more would crowd out the image tokens

PROMPT = prompt("extract")
ANCHOR = prompt("extract", "anchor")
RETRY = prompt("extract", "retry")


@dataclass
class ExtractResult:
    source: str
    pages: list[int]
    data: dict[str, Any] | None
    status: str  # ok | warnings | failed
    warnings: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    attempts: int = 0
    seconds: float = 0.0
    stats: Stats = field(default_factory=Stats)
    anchor: str = "none"

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "pages": [p + 1 for p in self.pages], "status": self.status,
                "data": self.data, "warnings": self.warnings, "error": self.error, "attempts": self.attempts,
                "anchor": self.anchor, "seconds": round(self.seconds, 3), "stats": self.stats.to_dict()}


def _anchor_text(pages: list[Any], mode: str, ocr_name: str) -> tuple[str | None, str]:
    """The document's own text (text layer, or classic OCR for scans) and which one it was."""
    from ..media.documents import has_text_layer

    if mode == "none":
        return None, "none"
    if mode in ("auto", "text") and has_text_layer(pages):
        return "\n\n".join(p.text or "" for p in pages), "text"
    if mode == "text":
        raise OculoError(f"{pages[0].source}: has no text layer to anchor on; use --anchor ocr or --anchor none")
    if mode in ("ocr", "auto"):
        return _ocr_text(pages, ocr_name), "ocr"
    raise OculoError(f"unknown anchor {mode!r}; choose auto, text, ocr or none")


def document_text(pages: list[Any], anchor_text: str | None, anchor_used: str, ocr_name: str) -> str | None:
    """What verification checks against: the text layer when there is one, else classic OCR (reused if done)."""
    from ..media.documents import has_text_layer

    if has_text_layer(pages):
        return "\n\n".join(p.text or "" for p in pages)
    return anchor_text if anchor_used == "ocr" else _ocr_text(pages, ocr_name)


def _ocr_text(pages: list[Any], ocr_name: str) -> str | None:
    from ..engines.ocr import get_ocr_engine

    try:
        reader = get_ocr_engine(ocr_name)
    except OculoError:
        return None  # no classic OCR installed: extraction still runs, grounding is then skipped
    return "\n\n".join(reader.read(p.image).text for p in pages)


def _ask_valid(engine: Engine, prompt: str, images: list[ImagePart], schema: dict[str, Any], model_cls: Any,
               options: Options, stats: Stats, attempts: int,
               system: str | None = None) -> tuple[dict[str, Any] | None, str | None, int]:
    """One group of pages to one record, retried with the error fed back.

    Returns (data, error, attempts). When every attempt broke only the model's own rules (a date that is not
    on the calendar) but matched the JSON schema, the last such record comes back with its error, so the
    document is reported failed with that error and the record kept for a look, not lost.
    """
    error = None
    kept: dict[str, Any] | None = None
    temperatures = TEMPERATURES[:max(1, min(attempts, len(TEMPERATURES)))]
    for attempt, temperature in enumerate(temperatures, 1):
        opts = Options(max_tokens=options.max_tokens or 2048, temperature=temperature,
                       seed=options.seed, stop=list(options.stop), extra=dict(options.extra))
        text = prompt + (fill(RETRY, error=error) if error else "")
        reply: Reply = engine.generate([Request.simple(text, images, system=system, options=opts,
                                                       schema=schema)])[0]
        stats.add(reply.stats)
        error = reply.error
        if error is not None:
            continue
        if model_cls is None:
            return reply.data, None, attempt
        try:
            return model_cls.model_validate(reply.data).model_dump(mode="json"), None, attempt
        except ValidationError as e:  # pydantic's own rules (calendar dates, ranges) beyond what a grammar holds
            kept = reply.data
            error = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()[:3])
    return kept, error, len(temperatures)


def merge_records(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-page answers into one record, in page order: the first value of a field wins, lists are joined."""
    merged: dict[str, Any] = {}
    for rec in records:
        for key, value in rec.items():
            if isinstance(value, list):
                merged.setdefault(key, [])
                merged[key] = (merged[key] or []) + value
            elif merged.get(key) is None:
                merged[key] = value
    return merged


def extract_document(path: str | Path, engine: Engine, schema: str, *, pages: str | None = None,
                     dpi: float | None = None, anchor: str = "auto", pages_per_request: int | None = None,
                     options: Options | None = None, ocr: str = "rapidocr",
                     attempts: int = len(TEMPERATURES), prompt_template: str = PROMPT,
                     system: str | None = None) -> ExtractResult:
    """`prompt_template` replaces the built-in prompt (a --prompt-file); {name} in it becomes the schema's name."""
    from ..checks import verify
    from ..media.documents import open_document
    from ..schemas import BUILTIN, resolve_schema

    t0 = time.perf_counter()
    json_schema, model_cls, name = resolve_schema(schema)
    caps = engine.capabilities()
    doc = open_document(path, pages=pages, dpi=dpi, max_pixels=caps.max_pixels, min_side=caps.min_side)
    source = str(path)
    text, anchor_used = _anchor_text(doc, anchor, ocr)
    per = pages_per_request or caps.max_images or 4
    stats = Stats()
    records, used = [], 0
    problems: list[str] = []
    for start in range(0, len(doc), per):
        group = doc[start:start + per]
        prompt = fill(prompt_template, name=name.replace("_", " "))
        if text and anchor_used != "none":
            group_text = "\n\n".join(p.text or "" for p in group) if anchor_used == "text" else text
            prompt += fill(ANCHOR, text=group_text[:ANCHOR_CHARS])
        images = [ImagePart(p.image, f"{Path(source).name} page {p.index + 1}") for p in group]
        data, error, n = _ask_valid(engine, prompt, images, json_schema, model_cls, options or Options(), stats,
                                    attempts, system)
        used += n
        if data is None:
            return ExtractResult(source, [p.index for p in doc], None, "failed", error=error, attempts=used,
                                 seconds=time.perf_counter() - t0, stats=stats, anchor=anchor_used)
        if error:
            problems.append(error)
        records.append(data)
    data = merge_records(records) if len(records) > 1 else records[0]
    result = ExtractResult(source, [p.index for p in doc], data, "ok", attempts=used, stats=stats,
                           anchor=anchor_used)
    v = verify(data, document_text(doc, text, anchor_used, ocr), schema=name if name in BUILTIN else "custom")
    result.status = v.status
    result.warnings = v.to_dict()["warnings"]
    if result.warnings and result.status == "ok":
        result.status = "warnings"
    if problems:  # the record breaks the schema's own rules: kept for a look, but failed, never passed as data
        result.status = "failed"
        result.error = "the answer fails the schema's validation: " + "; ".join(problems)
    result.seconds = time.perf_counter() - t0
    return result
