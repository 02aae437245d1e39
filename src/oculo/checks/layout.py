"""Layout-aware grounding: where a value is printed, and which label it sits beside.

A value found anywhere in the text proves little when a model swaps two values printed on the same invoice
(the subtotal given as the total, the due date as the issue date): both are printed, no sum contradicts them.
The label beside the value does: a total printed only beside "Total HT" or "Subtotal" is likely a subtotal.

The layout is words with positions per page: real boxes from the PDF text layer (pypdfium2's char boxes) or
classic OCR, or, for plain text, line and column numbers (then a location names the page only). A value's
label is the label to its left on the same line when nothing of its kind sits between them, or the label
above it in the same column (a table header, or "Invoice Date:" printed over the date); in a row holding
several amounts the column header decides, since a row label ("Total facture 24.99 5.00 29.99") names the
row, not each column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .grounding import date_matches, number_matches
from .numbers import Finding, to_decimal

__all__ = ["Layout", "Occurrence", "check_labels", "layout_from_ocr", "layout_from_pdf", "layout_from_text"]

Box = tuple[float, float, float, float]  # x0, y0, x1, y1, y downwards

# Label classes, tried in this order; a span taken by an earlier class is masked for the later ones, so
# "Total HT" is a subtotal and "Total incl. VAT" a total, never a tax. Forms seen on the shared invoices
# (English, Dutch, German, French, Polish) and their usual neighbours (Spanish, Italian).
_LABELS: list[tuple[str, str]] = [
    ("other_date", r"order\s*date|orderdatum|bestel\s*datum|bestelldatum|date\s+de\s+commande|delivery\s+date|"
                   r"leverdatum|lieferdatum|pr[ée]l[èe]vement|p[ée]riode?|period|service\s+date"),
    ("due", r"due\s+date|date\s+due|payment\s+due|due\s+(?:by|on)|pay(?:able)?\s+by|verval\s*datum|"
            r"uiterste\s+betaaldatum|f[äa]llig\w*|zahlbar\s+bis|zahlungsziel|date\s+limite(?:\s+de\s+paiement)?|"
            r"[ée]ch[ée]ance|termin\s+p[łl]atno[śs]ci|fecha\s+de\s+vencimiento|scadenza|\bdue\b"),
    ("issue", r"invoice\s+date|date\s+of\s+issue|issue\s+date|date\s+d[e']\s*(?:la\s+)?facture|"
              r"date\s+de\s+facturation|factuur\s*datum|rechnungsdatum|datum\s+faktury|data\s+wystawienia|"
              r"fecha(?:\s+de)?\s+(?:factura|emisi[oó]n)|data\s+(?:della\s+)?fattura|billing\s+date|"
              r"factur[ea]\s+n\S*\s*\S+\s+du\b|\bdated?\b|\bdatum\b|\bdata\b|\bfecha\b"),
    ("subtotal", r"sub[\s-]?total|sous[\s-]?total|zwischensumme|subtotaal|total\s+h\.?t\b\.?|"
                 r"montant\s+(?:eur\s+)?h\.?t\b\.?|\bh\.?t\.?(?=\s*:)|nettobetrag|summe\s+netto|"
                 r"net(?:to)?\s+(?:amount|bedrag|betrag|total)|total\s+net|totaal\s+excl\S*(?:\s+btw)?|"
                 r"total\s+excl\S*(?:\s+(?:vat|tax|btw))?|excl\S*\s+(?:btw|vat|tax|mwst)|grondslag|"
                 r"(?:amount\s+)?untaxed(?:\s+amount)?|warto[sś][cć]\s+netto|taxable\s+(?:value|amount)|"
                 r"base\s+imponible|imponibile"),
    ("total", r"total\w*\s+(?:incl|inkl|including|ttc)\S*(?:\s+(?:vat|tax|btw|mwst|tva))?|"
              r"montant\s+(?:eur\s+)?ttc|total\s+ttc"),
    ("tax", r"\b(?:vat|tax|mwst|ust|tva|iva|btw|gst|igst|cgst|sgst|podatek|steuer|umsatzsteuer)\b"),
    ("total", r"grand\s+total|total\s+due|amount\s+due|balance\s+due|total\s+amount|invoice\s+total|totaal|"
              r"total|gesamt\w*|endbetrag|rechnungsbetrag|summe|te\s+betalen|zu\s+zahlen|somme\s+[àa]\s+payer|"
              r"net\s+[àa]\s+payer|montant\s+[àa]\s+payer|razem|do\s+zap[łl]aty|\bsuma\b|amount\s+payable|"
              r"warto[sś][cć]\s+brutto|\bttc\b"),
]
_LABEL_RES = [(cls, re.compile(p, re.IGNORECASE)) for cls, p in _LABELS]
# Which label each field belongs beside, and which labels mean it was taken from a neighbouring field.
FIELD_LABEL = {"total": "total", "subtotal": "subtotal", "tax_total": "tax", "tax": "tax",
               "issue_date": "issue", "due_date": "due"}
_RIVALS = {"total": {"subtotal", "tax"}, "subtotal": {"total", "tax"}, "tax": {"total", "subtotal"},
           "issue": {"due"}, "due": {"issue"}}
_NAMES = {"total": "total", "subtotal": "subtotal", "tax": "tax", "issue": "issue date", "due": "due date"}
_CLIMB = 12  # lines searched upwards for a column header


@dataclass
class _Token:
    text: str
    box: Box  # geometry for proximity: real, or (column, line) for plain text


@dataclass
class _Line:
    page: int
    tokens: list[_Token]
    text: str = ""
    starts: list[int] = field(default_factory=list)
    labels: list[tuple[int, int, str, str]] = field(default_factory=list)  # start, end, class, text
    numbers: list[tuple[int, int, Decimal]] = field(default_factory=list)
    dates: list[tuple[int, int, str]] = field(default_factory=list)

    def span_box(self, start: int, end: int) -> Box:
        toks = [t for t, s in zip(self.tokens, self.starts) if s < end and s + len(t.text) > start]
        toks = toks or self.tokens
        return (min(t.box[0] for t in toks), min(t.box[1] for t in toks),
                max(t.box[2] for t in toks), max(t.box[3] for t in toks))


@dataclass(frozen=True)
class Occurrence:
    page: int  # 1-based
    box: Box | None  # None where the text source has no boxes
    label: str | None  # the label class it sits beside
    label_text: str | None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"page": self.page}
        if self.box is not None:
            out["box"] = [round(v, 1) for v in self.box]
        return out


class Layout:
    def __init__(self, pages: Sequence[Sequence[_Token]], *, boxes: bool) -> None:
        self.boxes = boxes
        self.lines: list[_Line] = []
        for p, tokens in enumerate(pages, 1):
            self.lines += _rows(p, tokens)
        self.text = "\n".join(line.text for line in self.lines)
        convention = date_matches(self.text, convention=None)[1]
        for line in self.lines:
            _annotate(line, convention)

    def find(self, kind: str, value: Any) -> list[Occurrence]:
        out = []
        for i, line in enumerate(self.lines):
            if kind == "number":
                want = abs(to_decimal(value))
                spans = [(s, e) for s, e, d in line.numbers if d == want]
            else:
                spans = [(s, e) for s, e, iso in line.dates if iso == value]
            for s, e in dict.fromkeys(spans):
                cls, text = self._label(i, s, e, kind)
                out.append(Occurrence(line.page, line.span_box(s, e) if self.boxes else None, cls, text))
        return out

    def _label(self, i: int, start: int, end: int, kind: str) -> tuple[str | None, str | None]:
        line = self.lines[i]
        values = [(s, e) for s, e, _ in (line.numbers if kind == "number" else line.dates)]
        values = [v for v in dict.fromkeys(values) if not (v[0] < end and v[1] > start)]
        left = [lb for lb in line.labels if lb[1] <= start]
        adjacent = row = None
        if left:
            lb = max(left, key=lambda x: x[1])
            between = any(lb[1] <= s and e <= start for s, e in values)
            adjacent, row = (None, lb) if between else (lb, None)
        header = self._header(i, line.span_box(start, end))
        several = bool(values)  # other values of its kind on the row: a row label does not name each
        for pick in ((header if several else None), adjacent, header, row):
            if pick:
                return pick[2], pick[3]
        return None, None

    def _header(self, i: int, box: Box) -> tuple[int, int, str, str] | None:
        """The label above the value in its column, passing over the values stacked between."""
        line = self.lines[i]
        for j in range(i - 1, max(-1, i - 1 - _CLIMB), -1):
            up = self.lines[j]
            if up.page != line.page:
                return None
            over = [(s, t) for s, t in zip(up.starts, up.tokens) if t.box[0] < box[2] and t.box[2] > box[0]]
            if not over:
                continue
            for s, t in over:
                for lb in up.labels:
                    if lb[0] < s + len(t.text) and lb[1] > s:
                        return lb
            if not all(re.fullmatch(r"[\W\d]*", t.text) or _is_value(up, s, t) for s, t in over):
                return None
        return None


def _is_value(line: _Line, s: int, t: _Token) -> bool:
    e = s + len(t.text)
    return any(a < e and b > s for a, b, _ in line.numbers) or any(a < e and b > s for a, b, _ in line.dates)


def _rows(page: int, tokens: Sequence[_Token]) -> list[_Line]:
    """Tokens grouped into visual lines: a token joins the line it overlaps vertically by half its height."""
    rows: list[tuple[float, float, list[_Token]]] = []
    for t in sorted(tokens, key=lambda t: (t.box[1], t.box[0])):
        h = max(t.box[3] - t.box[1], 1e-6)
        for y0, y1, toks in rows:
            if min(y1, t.box[3]) - max(y0, t.box[1]) >= 0.5 * min(h, y1 - y0):
                toks.append(t)
                break
        else:
            rows.append((t.box[1], t.box[3], [t]))
    out = []
    for _, _, toks in sorted(rows, key=lambda r: r[0]):
        toks.sort(key=lambda t: t.box[0])
        line = _Line(page, toks)
        pos = 0
        for t in toks:
            line.starts.append(pos)
            pos += len(t.text) + 1
        line.text = " ".join(t.text for t in toks)
        out.append(line)
    return out


def _annotate(line: _Line, convention: tuple[bool, bool]) -> None:
    masked = line.text
    for cls, rx in _LABEL_RES:
        for m in rx.finditer(masked):
            line.labels.append((m.start(), m.end(), cls, line.text[m.start():m.end()]))
            masked = masked[:m.start()] + "\0" * (m.end() - m.start()) + masked[m.end():]
    line.labels.sort()
    line.numbers = number_matches(line.text)
    line.dates = date_matches(line.text, convention=convention)[0]


def _split(text: str, box: Box) -> list[_Token]:
    """A phrase with one box (RapidOCR) into words with boxes in proportion to their characters."""
    words = [(m.start(), m.group()) for m in re.finditer(r"\S+", text)]
    n = max(len(text), 1)
    w = (box[2] - box[0]) / n
    return [_Token(t, (box[0] + s * w, box[1], box[0] + (s + len(t)) * w, box[3])) for s, t in words]


def layout_from_text(text: str) -> Layout:
    """Plain text: pages split on form feeds, positions as (column, line); locations give the page only."""
    pages = []
    for page in text.split("\f"):
        toks = []
        for y, row in enumerate(page.splitlines()):
            toks += [_Token(m.group(), (m.start(), y, m.end(), y + 0.8)) for m in re.finditer(r"\S+", row)]
        pages.append(toks)
    return Layout(pages, boxes=False)


def layout_from_ocr(pages: Iterable[Any]) -> Layout:
    """OcrPage objects (oculo.engines.ocr): each line's words, or its phrases split, with their pixel boxes."""
    out = []
    for page in pages:
        toks: list[_Token] = []
        for line in page.lines:
            for w in (line.words or [line]):
                toks += _split(w.text, tuple(w.box))
        out.append(toks)
    return Layout(out, boxes=True)


def layout_from_pdf(path: str, pages: Iterable[int] | None = None) -> Layout | None:
    """The PDF text layer as words with boxes in points (y downwards); None when there is no text layer."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path))
    out = []
    try:
        for i in (pages if pages is not None else range(len(doc))):
            page = doc[i]
            height = page.get_height()
            tp = page.get_textpage()
            n = tp.count_chars()
            text = tp.get_text_range(0, n) if n else ""
            toks: list[_Token] = []
            word = ""
            box: tuple[float, float, float, float] | None = None  # of `word`: set with its every character
            for k in range(n):
                ch = text[k] if len(text) == n else tp.get_text_range(k, 1)
                if ch.isspace() or not ch:
                    if word:
                        assert box is not None
                        toks.append(_Token(word, box))
                    word, box = "", None
                    continue
                left, bottom, right, top = tp.get_charbox(k, loose=True)  # font height: '.' as tall as '9'
                b = (left, height - top, right, height - bottom)
                if word and box and (b[0] - box[2] > 0.6 * (box[3] - box[1]) or b[1] >= box[3] or b[2] < box[0]):
                    toks.append(_Token(word, box))  # a gap or a line break without a space
                    word, box = "", None
                word += ch
                box = b if box is None else (min(box[0], b[0]), min(box[1], b[1]), max(box[2], b[2]),
                                             max(box[3], b[3]))
            if word:
                assert box is not None
                toks.append(_Token(word, box))
            out.append(toks)
    finally:
        doc.close()
    if not any(out):
        return None
    return Layout(out, boxes=True)


def check_labels(values: Iterable[tuple[str, str, Any]], layout: Layout
                 ) -> tuple[list[Finding], int, dict[str, list[dict[str, Any]]]]:
    """(path, kind, value) in; field swaps found, labelled fields checked, and where every value was found."""
    out: list[Finding] = []
    n = 0
    where: dict[str, list[dict[str, Any]]] = {}
    values = list(values)
    # Without tax a subtotal equal to the total is rightly printed beside "Total" alone; a total printed only
    # beside "Subtotal" or "HT" is still doubted, since an invoice without tax rarely omits its total.
    by_label = {FIELD_LABEL[p]: to_decimal(v) if k == "number" else v for p, k, v in values
                if p in FIELD_LABEL and v not in (None, "")}
    for path, kind, value in values:
        if value is None or value == "" or kind not in ("number", "date"):
            continue
        occ = layout.find(kind, value)
        if occ:
            where[path] = [o.to_dict() for o in dict.fromkeys(occ)]
        want = FIELD_LABEL.get(path)
        if want is None or not occ:
            continue
        n += 1
        labels = {o.label for o in occ} - {None, "other_date"}
        same = ({r for r in _RIVALS[want] if r in by_label and by_label[r] == by_label[want]}
                if want != "total" and kind == "number" and not by_label.get("tax") else set())
        wrong = labels & _RIVALS[want] - same
        if want not in labels and wrong:
            o = next(o for o in occ if o.label in wrong)
            shown = format(to_decimal(value), "f") if kind == "number" else value
            rival = _NAMES[o.label or ""]
            out.append((path, "field_swap", f"{shown} is printed only beside {o.label_text!r} (page {o.page}), "
                                            f"not beside a {_NAMES[want]} label; the {rival} taken for the "
                                            f"{_NAMES[want]}?"))
    return out, n, where
