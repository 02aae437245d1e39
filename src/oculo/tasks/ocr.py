"""OCR of documents: a classic engine (boxes and confidences) or any vision-language model (exact transcription)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engines import Engine, ImagePart, Options, Request, Stats
from ..errors import Unsupported
from .prompts import prompt

__all__ = ["CLASSIC", "PageText", "image_text", "ocr_document", "PROMPTS"]

CLASSIC = ("rapidocr", "tesseract")

PROMPTS = {"text": prompt("ocr"), "markdown": prompt("ocr", "markdown")}


@dataclass
class PageText:
    source: str
    page: int  # 1-based
    text: str
    lines: list[dict[str, Any]] = field(default_factory=list)  # classic engines: text, box, confidence
    engine: str = ""
    stats: Stats | None = None
    rotated: int = 0  # degrees the page was turned clockwise to be upright before it was read


    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "page": self.page, "engine": self.engine, "text": self.text}
        if self.rotated:
            out["rotated"] = self.rotated
        if self.lines:
            out["lines"] = self.lines
        if self.stats is not None:
            out["stats"] = self.stats.to_dict()
        return out


def ocr_document(path: str | Path, engine: str | Engine, *, fmt: str = "text", pages: str | None = None,
                 dpi: float | None = None, options: Options | None = None,
                 prompt: str | None = None, system: str | None = None) -> list[PageText]:
    """Each chosen page's text; `prompt` replaces a vision model's built-in transcription prompt, `system`
    is sent as the system prompt (vision models only: a classic engine has no prompt and refuses one).

    `engine` is an engine, or the name of a classic one ("rapidocr", "tesseract").
    """
    from ..engines.ocr import OCR_DPI, OcrEngine, get_ocr_engine
    from ..media.documents import open_document

    source = str(path)
    if isinstance(engine, str):
        engine = get_ocr_engine(engine)
    caps = engine.capabilities()
    if isinstance(engine, OcrEngine):  # its own reader: lines with boxes and confidences, which a model has not
        if system or (options is not None and options != Options()):
            raise Unsupported(f"{engine.name} is classic OCR: it takes no system prompt or generation options; "
                              "read with a vision model to use them")
        # Classic OCR wants resolution, not a VLM's pixel budget: about 200 dpi reads small print reliably, and a
        # scanned page is read at its scan's own resolution unless --dpi says otherwise (resampling blurs word gaps).
        doc = open_document(path, pages=pages, dpi=dpi or OCR_DPI, max_pixels=caps.max_pixels,
                            native_scans=dpi is None)
        out = []
        for p in doc:
            image, turned = _upright(p)
            page = engine.read(image)
            out.append(PageText(source, p.index + 1, page.text, page.to_dict().get("lines", []), engine.name,
                                rotated=turned))
        return out
    doc = open_document(path, pages=pages, dpi=dpi, max_pixels=caps.max_pixels, min_side=caps.min_side)
    # A page of text needs room: the 4096 default holds whatever else the caller set (a --temperature alone
    # must not fall back to the engine's short default).
    opts = (options or Options()).with_defaults(max_tokens=4096, temperature=0.0)
    prompt = prompt or PROMPTS["markdown" if fmt == "markdown" else "text"]
    uprights = [_upright(p) for p in doc]
    requests = [Request.simple(prompt, [ImagePart(image, f"{Path(source).name} page {p.index + 1}")],
                               system=system, options=opts) for p, (image, _) in zip(doc, uprights)]
    replies = engine.generate(requests)  # every page in one batch: the engine keeps itself busy
    return [PageText(source, p.index + 1, r.text.strip(), engine=f"{r.engine}:{r.model}", stats=r.stats,
                     rotated=degrees) for p, r, (_, degrees) in zip(doc, replies, uprights)]


def _upright(page: Any) -> tuple[Any, int]:
    """A page without a PDF text layer (a scan, a photo) turned upright; born-digital pages are drawn as authored."""
    from ..media.orientation import upright

    if page.text:
        return page.image, 0
    return upright(page.image)


def image_text(image: Any, engine: str = "auto") -> tuple[str | None, str | None]:
    """An image's own text by classic OCR, and the engine that read it: what post-checks compare a model with.

    "auto" takes rapidocr, else tesseract; when neither is installed it returns (None, None) and the check
    says it was skipped. A named engine that is missing raises its one-line error.
    """
    from ..engines.ocr import get_ocr_engine
    from ..errors import NotInstalled

    for name in CLASSIC if engine == "auto" else (engine,):
        try:
            reader = get_ocr_engine(name)
            return reader.read(image).text, name
        except NotInstalled:
            if engine != "auto":
                raise
    return None, None
