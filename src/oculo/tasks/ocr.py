"""OCR of documents: a classic engine (boxes and confidences) or any vision-language model (exact transcription)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engines import Engine, ImagePart, Options, Request, Stats

__all__ = ["CLASSIC", "PageText", "ocr_document", "PROMPTS"]

CLASSIC = ("rapidocr", "tesseract")

PROMPTS = {
    "text": "Transcribe all text in this document image exactly as written, in reading order, keeping line "
            "breaks. Do not summarize, translate or correct anything. Output only the text.",
    "markdown": "Transcribe this document image to Markdown, exactly as written: headings as #, lists as lists, "
                "and every table as a Markdown table with its header row. Do not summarize or translate. "
                "Output only the Markdown.",
}


@dataclass
class PageText:
    source: str
    page: int  # 1-based
    text: str
    lines: list[dict[str, Any]] = field(default_factory=list)  # classic engines: text, box, confidence
    engine: str = ""
    stats: Stats | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "page": self.page, "engine": self.engine, "text": self.text}
        if self.lines:
            out["lines"] = self.lines
        if self.stats is not None:
            out["stats"] = self.stats.to_dict()
        return out


def ocr_document(path: str | Path, engine: str | Engine, *, fmt: str = "text", pages: str | None = None,
                 dpi: float | None = None, options: Options | None = None) -> list[PageText]:
    from ..media.documents import open_document

    source = str(path)
    if isinstance(engine, str):
        from ..engines.ocr import get_ocr_engine

        reader = get_ocr_engine(engine)
        # Classic OCR wants resolution, not a VLM's pixel budget: about 200 dpi reads small print reliably.
        doc = open_document(path, pages=pages, dpi=dpi or 200, max_pixels=40_000_000)
        out = []
        for p in doc:
            page = reader.read(p.image)
            out.append(PageText(source, p.index + 1, page.text, page.to_dict().get("lines", []), reader.name))
        return out
    caps = engine.capabilities()
    doc = open_document(path, pages=pages, dpi=dpi, max_pixels=caps.max_pixels, min_side=caps.min_side)
    opts = options or Options()
    if opts.temperature is None:
        opts = Options(max_tokens=opts.max_tokens or 4096, temperature=0.0, seed=opts.seed, stop=opts.stop,
                       extra=opts.extra)
    prompt = PROMPTS["markdown" if fmt == "markdown" else "text"]
    requests = [Request.simple(prompt, [ImagePart(p.image, f"{Path(source).name} page {p.index + 1}")],
                               options=opts) for p in doc]
    replies = engine.generate(requests)  # every page in one batch: the engine keeps itself busy
    return [PageText(source, p.index + 1, r.text.strip(), engine=f"{r.engine}:{r.model}", stats=r.stats)
            for p, r in zip(doc, replies)]
