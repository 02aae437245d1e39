"""Documents in, page images out: PDFs are rendered page by page (no model is ever sent a PDF), multi-page TIFFs are
split into frames, and any other image is one page. PDF pages also carry their text layer.

Every failure a user can cause becomes one `InputError` line naming the file and the fix.

How a PDF page's resolution is chosen (`dpi=None`): at least 150 dpi, the guide's floor for reading documents,
and more when the pixel budget leaves room: the resolution at which the page just fills it,
`72 * sqrt(max_pixels / page_area_in_pt²)`, capped at 300 dpi because a business card or a label gains nothing past
print resolution but would cost the model pixels. Without a budget (`max_pixels=None`) a page renders at 150 dpi.
The budget is the model's (engines are handed the image as is, and each model has a limit; the catalog gives each
model its own native budget), so a page larger than it is rendered at 150 dpi and shrunk to fit; a poster or a tiny
budget can land below 72 dpi. Then the page is still rasterized at 72 dpi and shrunk with Pillow: at low scales
PDFium's own anti-aliasing is rougher (on AmazonWebServices.pdf at 36 dpi, ~20% further from a 4x-supersampled
reference). An explicit `dpi` replaces the automatic choice; `max_pixels` still caps it, so pass a large budget (or
None) to get exactly it.

A scanned page (`native_scans=True`, what classic OCR asks for) is read at its scan's own resolution: when the page
shows nothing but one image covering it, that image's pixels are taken as they are, not re-rendered. Rendering a
150 dpi scan at 200 dpi (or even at 150, where PDFium still interpolates) blurs the gaps between words, and RapidOCR
then runs them together ("Schmidt&SöhneGmbH"); the scan itself keeps them.
"""

from __future__ import annotations

import io
import math
import os
import re
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image, ImageOps

from ..errors import InputError
from .images import MAX_SOURCE_PIXELS, RESAMPLE, ImageLimits, decode, fit_size, pad_to_fit, to_rgb
from .sources import Source

__all__ = ["Page", "parse_pages", "page_numbers", "open_document", "text_layer", "has_text_layer", "is_pdf"]

MAX_AUTO_DPI = 300.0
# The guide's floor for documents: below it small print and subscripts blur for every model.
DEFAULT_DPI = 150.0
MIN_RENDER_DPI = 72.0
# A page "has text" with at least this many letters or digits: a scan's stray glyphs (a page number, a
# "Scanned with CamScanner" stamp, ~20) stay under it; the sparsest real invoice page has hundreds.
MIN_TEXT_CHARS = 40

# PDFium is not thread-safe: one document operation at a time, whichever thread asks.
_PDFIUM_LOCK = threading.RLock()
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
_DECRYPT_HINT = "remove the password first (qpdf --decrypt --password=PASSWORD in.pdf out.pdf)"
# Control characters PDFium passes through (form feeds, \x02 hyphen markers, U+FFFE) are noise to every reader.
_NOISE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufeff\ufffe\uffff]")
_WORD_CHAR = re.compile(r"\w", re.UNICODE)
_ZERO_PAGES = re.compile(rb"/Count\s*0(?![0-9])")
_SOME_PAGES = re.compile(rb"/Count\s*[1-9]")


@dataclass
class Page:
    """One page of a document as an upright RGB image, with the PDF's own text when it has a text layer."""

    source: str  # the file name as given, for messages
    index: int  # 0-based
    image: Image.Image = field(repr=False)
    text: str | None = None  # the PDF text layer ("" for a PDF page without text); None for images and scans
    width_pt: float | None = None  # PDF page size in points (1/72 inch); None for images
    height_pt: float | None = None
    dpi: float | None = None  # the resolution the image ended at (PDF pages), after any shrink to the budget

    @property
    def number(self) -> int:
        return self.index + 1


def parse_pages(spec: str | None, count: int, name: str | None = None) -> list[int]:
    """A 1-based page spec ("1-3,7", "5-", "-2") to sorted, de-duplicated 0-based indices; None or "" means all."""
    where = f"{name}: " if name else ""
    if count < 1:
        raise InputError(f"{where}the document has no pages; check that it is the right file")
    if spec is None or not spec.strip() or spec.strip().lower() == "all":
        return list(range(count))
    fix = f"choose pages within 1-{count}, written like 1-3,7 or 5-" if count > 1 else "use 1 or no page spec"
    chosen: set[int] = set()
    for part in spec.replace(" ", "").split(","):
        m = re.fullmatch(r"(\d*)(-?)(\d*)", part)
        if not part or m is None or (not m[1] and not m[3]):
            raise InputError(f"{where}cannot read page spec {spec!r} (at {part!r}); {fix}")
        first = int(m[1]) if m[1] else 1
        last = (int(m[3]) if m[3] else count) if m[2] else first
        if first < 1 or last < 1:
            raise InputError(f"{where}page spec {spec!r}: pages are numbered from 1; {fix}")
        if first > last:
            raise InputError(f"{where}page spec {spec!r}: range {part} runs backwards; write {last}-{first}")
        if last > count:
            has = f"{count} page" if count == 1 else f"{count} pages"
            raise InputError(f"{where}page spec {spec!r} asks for page {last} but the document has {has}; {fix}")
        chosen.update(range(first - 1, last))
    return sorted(chosen)


def is_pdf(data: bytes) -> bool:
    # The PDF spec lets junk precede the header within the first KiB, and PDFium accepts that.
    return b"%PDF-" in data[:1024]


def open_document(path_or_source: str | os.PathLike[str] | Source | bytes, *, pages: str | None = None,
                  dpi: float | None = None, max_pixels: int | None = None, min_side: int = 28,
                  password: str | None = None, native_scans: bool = False) -> list[Page]:
    """Read a PDF, a (multi-page) TIFF or an image into pages; the type comes from the content, not the name.

    `native_scans`: a PDF page that is one full-page image comes out at that image's own resolution (only shrunk
    to fit `max_pixels`), whatever `dpi` says for the other pages. `max_pixels=None`: no budget but the safety
    limit on decoded pixels; PDF pages then render at exactly `dpi` (150 by default).
    """
    source = _as_source(path_or_source)
    name = source.name
    limits = ImageLimits(max_pixels=max_pixels or MAX_SOURCE_PIXELS, min_side=min_side)
    if dpi is not None and dpi <= 0:
        raise ValueError(f"dpi must be positive, got {dpi}")
    if dpi is None and max_pixels is None:
        dpi = DEFAULT_DPI  # no budget to fill: the floor is the resolution
    data = _read(source)
    if is_pdf(data):
        return _pdf_pages(data, name, pages, dpi, limits, password, native_scans)
    if data.startswith(_TIFF_MAGIC):
        return _tiff_pages(data, name, pages, limits)
    parse_pages(pages, 1, name)
    return [Page(name, 0, decode(data, name, limits))]


def text_layer(path_or_source: str | os.PathLike[str] | Source | bytes, *, pages: str | None = None,
               password: str | None = None) -> list[str]:
    """Each chosen page's text layer without rendering anything; "" for pages (or images) without one."""
    source = _as_source(path_or_source)
    data = _read(source)
    if not is_pdf(data):
        return ["" for _ in parse_pages(pages, _frame_count(data), source.name)]
    with _PDFIUM_LOCK:
        pdf = _open_pdf(data, source.name, password)
        try:
            return [_page_text(pdf[i]) for i in parse_pages(pages, len(pdf), source.name)]
        finally:
            pdf.close()


def page_numbers(path_or_source: str | os.PathLike[str] | Source | bytes, *, pages: str | None = None,
                 password: str | None = None) -> list[int]:
    """The chosen 1-based page numbers, counted without rendering or reading any text."""
    source = _as_source(path_or_source)
    data = _read(source)
    if not is_pdf(data):
        return [i + 1 for i in parse_pages(pages, _frame_count(data), source.name)]
    with _PDFIUM_LOCK:
        pdf = _open_pdf(data, source.name, password)
        count = len(pdf)
        pdf.close()
    return [i + 1 for i in parse_pages(pages, count, source.name)]


def has_text_layer(pages: Sequence[Page | str | None]) -> bool:
    """True for a born-digital document: at least half of its pages carry real text, not a scan's stray glyphs."""
    texts = [p.text if isinstance(p, Page) else p for p in pages]
    if not texts:
        return False
    rich = sum(1 for t in texts if t and len(_WORD_CHAR.findall(t)) >= MIN_TEXT_CHARS)
    return rich * 2 >= len(texts)


def _as_source(obj: str | os.PathLike[str] | Source | bytes) -> Source:
    if isinstance(obj, Source):
        return obj
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return Source.from_bytes(bytes(obj))
    return Source.from_path(obj)


def _read(source: Source) -> bytes:
    data = source.read()
    if not data:
        raise InputError(f"{source.name}: file is empty (0 bytes); pass a real PDF or image")
    return data


def _open_pdf(data: bytes, name: str, password: str | None):  # -> pypdfium2.PdfDocument
    try:
        import pypdfium2 as pdfium
    except ImportError:
        raise InputError(f"{name}: reading PDFs needs pypdfium2; pip install pypdfium2") from None
    try:
        pdf = pdfium.PdfDocument(data, password=password)
    except pdfium.PdfiumError as e:
        # PDFium's last-error code is process-wide and not reset by every failure (a zero-page file reports
        # "success", or the previous file's error), so each reading is confirmed from the bytes themselves.
        code = getattr(e, "err_code", None)
        encrypted = b"/Encrypt" in data
        if code == pdfium.raw.FPDF_ERR_PASSWORD and encrypted:
            what = "the password is wrong" if password else "the PDF is encrypted"
            raise InputError(f"{name}: {what}; {_DECRYPT_HINT}") from None
        if code == pdfium.raw.FPDF_ERR_SECURITY and encrypted:
            raise InputError(f"{name}: the PDF uses an unsupported encryption scheme; {_DECRYPT_HINT}") from None
        if _ZERO_PAGES.search(data) and not _SOME_PAGES.search(data):
            raise InputError(f"{name}: the PDF has no pages; check that it is the right file") from None
        if b"%%EOF" not in data[-2048:]:
            raise InputError(f"{name}: the PDF is truncated (it has no end marker); re-download or re-export it") \
                from None
        raise InputError(f"{name}: cannot open this PDF (not a valid PDF structure); it may be corrupt, "
                         "re-download or re-export it") from None
    if len(pdf) == 0:
        pdf.close()
        raise InputError(f"{name}: the PDF has no pages; check that it is the right file")
    return pdf


def _pdf_pages(data: bytes, name: str, spec: str | None, dpi: float | None, limits: ImageLimits,
               password: str | None, native_scans: bool = False) -> list[Page]:
    with _PDFIUM_LOCK:
        pdf = _open_pdf(data, name, password)
        try:
            chosen = parse_pages(spec, len(pdf), name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # XFA forms PDFium cannot load: the static page still renders
                pdf.init_forms()  # filled-in form fields are drawn only with the form environment set up
            out = []
            for i in chosen:
                page = pdf[i]
                try:
                    w_pt, h_pt = page.get_size()
                    scan = _scan_image(page, w_pt, h_pt, limits) if native_scans else None
                    image, used_dpi = scan or _render(page, w_pt, h_pt, dpi, limits)
                    text = _page_text(page)
                except InputError:
                    raise
                except Exception as e:  # noqa: BLE001 - PDFium fails in many ways on a damaged page
                    raise InputError(f"{name}: cannot render page {i + 1} ({_reason(e)}); the PDF may be "
                                     "corrupt, re-export it") from None
                finally:
                    page.close()
                out.append(Page(name, i, image, text, w_pt, h_pt, used_dpi))
            return out
        finally:
            pdf.close()


def _render(page, w_pt: float, h_pt: float, dpi: float | None, limits: ImageLimits) -> tuple[Image.Image, float]:
    w_pt, h_pt = max(w_pt, 1.0), max(h_pt, 1.0)
    if dpi is None:
        dpi = max(DEFAULT_DPI, min(MAX_AUTO_DPI, 72 * math.sqrt(limits.max_pixels / (w_pt * h_pt))))
    wanted = (max(1, round(w_pt * dpi / 72)), max(1, round(h_pt * dpi / 72)))
    target = fit_size(wanted, limits)
    final_dpi = 72 * target[0] / w_pt
    render_dpi = max(final_dpi, MIN_RENDER_DPI)
    if (w_pt * render_dpi / 72) * (h_pt * render_dpi / 72) > MAX_SOURCE_PIXELS:
        render_dpi = final_dpi  # a giant page: the 72-dpi floor alone would be a decompression bomb
    img = page.render(scale=render_dpi / 72).to_pil()
    if img.mode != "RGB":
        img = img.convert("RGB")
    if img.size != target:
        img = img.resize(target, RESAMPLE, reducing_gap=3.0)
    return pad_to_fit(img, limits), round(final_dpi, 2)


def _scan_image(page, w_pt: float, h_pt: float, limits: ImageLimits) -> tuple[Image.Image, float] | None:
    """The page's one full-page image at its own resolution, or None when the page is anything else.

    Anything else is: more than one image, vector drawing, visible text (a searchable scan's invisible OCR layer
    is allowed), an image that is rotated, sheared or does not cover the page, or a rotated page.
    """
    import pypdfium2.raw as pdfium_c

    if page.get_rotation() % 360:
        return None
    image = None
    for obj in page.get_objects(max_depth=0):
        if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE and image is None:
            image = obj
        elif obj.type == pdfium_c.FPDF_PAGEOBJ_TEXT and \
                pdfium_c.FPDFTextObj_GetTextRenderMode(obj.raw) == pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE:
            continue
        else:
            return None
    if image is None:
        return None
    a, b, c, d, _e, _f = image.get_matrix().get()
    left, bottom, right, top = image.get_bounds()
    # Axis-aligned, upright, and within 2% of the page on every side (a scanner's margin crop is no reason to render).
    if b or c or a <= 0 or d <= 0:
        return None
    tol_w, tol_h = 0.02 * w_pt, 0.02 * h_pt
    if left > tol_w or bottom > tol_h or right < w_pt - tol_w or top < h_pt - tol_h:
        return None
    try:
        img = image.get_bitmap(render=False).to_pil()
    except Exception:  # noqa: BLE001 - an image format PDFium cannot hand over raw: render the page instead
        return None
    if img.width * img.height > MAX_SOURCE_PIXELS or min(img.size) < 1:
        return None
    if img.mode in ("RGBA", "LA"):  # a soft mask: what shows through is the white page
        img = Image.alpha_composite(Image.new("RGBA", img.size, "white"), img.convert("RGBA"))
    img = img.convert("RGB") if img.mode != "RGB" else img.copy()  # the copy outlives the PDFium bitmap
    target = fit_size(img.size, limits)
    if target != img.size:
        img = img.resize(target, RESAMPLE, reducing_gap=3.0)
    return pad_to_fit(img, limits), round(72 * img.width / max(right - left, 1.0), 2)


def _page_text(page) -> str:
    textpage = page.get_textpage()
    try:
        raw = textpage.get_text_range()
    finally:
        textpage.close()
    return normalize_text(raw)


def normalize_text(raw: str) -> str:
    """PDFium's text with Unix line breaks, no control characters and no trailing spaces; line breaks kept."""
    text = _NOISE.sub("", raw.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


def _frame_count(data: bytes) -> int:
    if not data.startswith(_TIFF_MAGIC):
        return 1
    try:
        with Image.open(io.BytesIO(data)) as img:
            return max(1, getattr(img, "n_frames", 1))
    except Exception:  # noqa: BLE001 - a damaged TIFF reads as one page here; decoding it reports the damage
        return 1


def _tiff_pages(data: bytes, name: str, spec: str | None, limits: ImageLimits) -> list[Page]:
    count = _frame_count(data)
    if count == 1:
        parse_pages(spec, 1, name)
        return [Page(name, 0, decode(data, name, limits))]
    out = []
    with Image.open(io.BytesIO(data)) as img:
        for i in parse_pages(spec, count, name):
            out.append(Page(name, i, _tiff_frame(img, i, name, limits)))
    return out


def _tiff_frame(img: Image.Image, index: int, name: str, limits: ImageLimits) -> Image.Image:
    # Messages start with the file's name alone, so a listing that prints the source beside them can drop it.
    try:
        img.seek(index)
        if img.width * img.height > MAX_SOURCE_PIXELS:
            raise InputError(f"{name}: page {index + 1} has {img.width * img.height:,} pixels, over the "
                             f"{MAX_SOURCE_PIXELS:,}-pixel safety limit; downscale it first")
        img.load()
        # Pillow >= 13 turns TIFF frames upright on load and drops the tag; older versions leave that to us.
        frame = ImageOps.exif_transpose(img.copy())
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - Pillow's TIFF decoders raise many types on damaged frames
        raise InputError(f"{name}: cannot decode TIFF page {index + 1} ({_reason(e)}); re-export the file") from None
    frame = to_rgb(frame, name)
    size = fit_size(frame.size, limits)
    if size != frame.size:
        frame = frame.resize(size, RESAMPLE, reducing_gap=3.0)
    return pad_to_fit(frame, limits)


def _reason(e: BaseException) -> str:
    return (" ".join(str(e).split()) or "no details")[:200]
