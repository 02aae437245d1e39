"""Layout-aware grounding: where a value is printed, and which label it sits beside.

A value found anywhere in the text proves little when a model swaps two values printed on the same invoice
(the subtotal given as the total, the due date as the issue date): both are printed, no sum contradicts them.
The label beside the value does: a total printed only beside "Total HT" or "Subtotal" is likely a subtotal.

The layout is words with positions per page: real boxes from the PDF text layer (pypdfium2's char boxes) or
classic OCR, or, for plain text, line and column numbers (then a location names the page only). A value's
label is the label to its left on the same line when nothing of its kind sits between them, or the label
above it in the same column (a table header, or "Invoice Date:" printed over the date); in a row holding
several amounts the column header decides, since a row label ("Total facture 24.99 5.00 29.99") names the
row, not each column. A line item's amount belongs on its own row: one printed only on another line's row
(the row holding more of that line's description) or only beside the invoice's totals was taken from there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .grounding import date_matches, number_matches
from .numbers import Finding, to_decimal

__all__ = ["Layout", "Occurrence", "check_labels", "check_line_rows", "layout_from_ocr", "layout_from_pdf",
           "layout_from_text"]

Box = tuple[float, float, float, float]  # x0, y0, x1, y1, y downwards

# Label classes, tried in this order; a span taken by an earlier class is masked for the later ones, so
# "Total HT" is a subtotal and "Total incl. VAT" a total, never a tax. Forms seen on the shared invoices
# (English, Dutch, German, French, Polish) and their usual neighbours (Spanish, Italian).
_LABELS: list[tuple[str, str]] = [
    # A unit-price column header ("P.U. HT", "Prijs per stuk") names no total: masked first, so its "HT" is not
    # read as a subtotal label.
    ("unit_price", r"p\.\s?u\.(?:\s*h\.?t\b\.?)?|prix\s+unit\w*|unit\s*price|price\s+per\s+(?:unit|item)|"
                   r"prijs\s+per\s+stuk|stuk\s*prijs|einzelpreis|preis\s+pro\s+st\w*|cena\s+jedn\w*|"
                   r"precio\s+unit\w*|prezzo\s+unit\w*"),
    ("other_date", r"order\s*date|orderdatum|bestel\s*datum|bestelldatum|date\s+de\s+commande|delivery\s+date|"
                   r"leverdatum|lieferdatum|leistungs\w*datum|pr[ée]l[èe]vement|p[ée]riode?|period|service\s+date"),
    ("due", r"due\s+date|date\s+due|payment\s+due|due\s+(?:by|on)|pay(?:able)?\s+by|verval\s*datum|"
            r"uiterste\s+betaaldatum|f[äa]llig\w*|zahlbar\s+bis|zahlungsziel|date\s+limite(?:\s+de\s+paiement)?|"
            r"[ée]ch[ée]ance|termin\s+p[łl]atno[śs]ci|fecha\s+de\s+vencimiento|scadenza|\bdue\b"),
    ("issue", r"inv(?:oice)?\.?\s*date|date\s+of\s+issue|issue\s+date|date\s+d[e']\s*(?:la\s+)?facture|"
              r"date\s+de\s+facturation|factuur\s*datum|rechnungsdatum|datum\s+faktury|data\s+wystawienia|"
              r"fecha(?:\s+de)?\s+(?:factura|emisi[oó]n)|data\s+(?:della\s+)?fattura|billing\s+date|"
              r"factur[ea]\s+n\S*\s*\S+\s+du\b|\bdated?\b|\bdatum\b|\bdata\b|\bfecha\b"),
    ("subtotal", r"sub[\s-]?tot(?:al|aal)?\b\.?|sous[\s-]?total|zwischensumme|subtotaal|total\s+h\.?t\b\.?|"
                 r"montant\s+(?:eur\s+)?h\.?t\b\.?|\bh\.?t\b\.?|nettobetrag|summe\s+netto|"
                 r"net(?:to)?\s+(?:amount|bedrag|betrag|total)|total\s+net|totaal\s+excl\S*(?:\s+btw)?|"
                 r"total\s+excl\S*(?:\s+(?:vat|tax|btw))?|excl\S*\s+(?:btw|vat|tax|mwst)|grondslag|"
                 r"(?:amount\s+)?untaxed(?:\s+amount)?|warto[sś][cć]\s+netto|\bnetto\b|taxable\s+(?:value|amount|amt)|"
                 r"base\s+imponible|imponibile"),
    ("total", r"total\w*\s+(?:incl|inkl|including|ttc)\S*(?:\s+(?:vat|tax|btw|mwst|tva))?|"
              r"montant\s+(?:eur\s+)?ttc|total\s+ttc"),
    ("tax", r"\b(?:vat|tax|mwst|ust|tva|iva|btw|gst|igst|cgst|sgst|podatek|steuer|umsatzsteuer)\b"),
    ("total", r"grand\s+total|total\s+due|amount\s+due|balance\s+due|total\s+amount|invoice\s+total|totaal|"
              r"total|gesamt\w*|endbetrag|rechnungsbetrag|summe|te\s+betalen|zu\s+zahlen|somme\s+[àa]\s+payer|"
              r"net\s+[àa]\s+payer|montant\s+[àa]\s+payer|razem|do\s+zap[łl]aty|\bsuma\b|amount\s+payable|"
              r"warto[sś][cć]\s+brutto|\bbrutto\b|\bttc\b"),
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
        self._beside: dict[str, set[Decimal]] | None = None
        self._amounts: dict[str, set[Decimal]] | None = None

    def beside(self, cls: str, *, amounts: bool = False) -> set[Decimal]:
        """Every number the document prints beside a label of class `cls` (the document's own reading of its
        labels); with `amounts`, only those written as money (a two-digit decimal part, not a percentage)."""
        if self._beside is None:
            self._beside, self._amounts = {}, {}
            for i, line in enumerate(self.lines):
                for s, e in dict.fromkeys((s, e) for s, e, _ in line.numbers):
                    if not _standalone(line.text, s, e):
                        continue
                    label = self._label(i, s, e, "number")[0]
                    if label is None:
                        continue
                    spans = {d for a, b, d in line.numbers if (a, b) == (s, e)}
                    self._beside.setdefault(label, set()).update(spans)
                    if _MONEY.fullmatch(line.text[s:e]):
                        self._amounts.setdefault(label, set()).update(spans)
        assert self._amounts is not None
        return (self._amounts if amounts else self._beside).get(cls, set())

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
        # A rate or an identifier between a label and its amount ("VAT 20% : 9.34") is no rival value.
        values = [v for v in dict.fromkeys(values) if not (v[0] < end and v[1] > start)
                  and (kind != "number" or _standalone(line.text, *v))]
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
            # A labelled total row stacked in the column ("Total HT : 46,68" over "TVA 20% : 9,34"): neither its
            # label nor the table header above it names the rows of the summary below.
            if any(lb[1] <= s for lb in up.labels for s, t in over if _is_value(up, s, t)):
                return None
            for s, t in over:
                for lb in up.labels:
                    if lb[0] < s + len(t.text) and lb[1] > s:
                        return lb
            if not all(re.fullmatch(r"[\W\d]*", t.text) or _is_value(up, s, t) for s, t in over):
                return None
        return None


_MONEY = re.compile(r"\d{1,3}(?:[ .,'’\u00a0\u202f]\d{3})*[.,]\d{2}|\d+[.,]\d{2}")


def _standalone(text: str, start: int, end: int) -> bool:
    """A number of its own: not part of an identifier (NL810433941B01) and not a percentage (20%)."""
    if (start and text[start - 1].isalnum()) or (end < len(text) and text[end].isalnum()):
        return False
    return not text[end:].lstrip().startswith("%")


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
    # That excuse fails where the document itself shows a tax amount and prints its own label for the field
    # beside another value: "Total HT 46,68 / TVA 9,34 / Total TTC 56,02" has a subtotal, and it is not 56,02.
    taxed = any(d > 0 for d in layout.beside("tax", amounts=True))
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
        if same and taxed and layout.beside(want) - {abs(to_decimal(value))}:
            same = set()
        wrong = labels & _RIVALS[want] - same
        if want not in labels and wrong:
            o = next(o for o in occ if o.label in wrong)
            shown = format(to_decimal(value), "f") if kind == "number" else value
            rival = _NAMES[o.label or ""]
            out.append((path, "field_swap", f"{shown} is printed only beside {o.label_text!r} (page {o.page}), "
                                            f"not beside a {_NAMES[want]} label; the {rival} taken for the "
                                            f"{_NAMES[want]}?"))
    return out, n, where


_WORD = re.compile(r"[^\W_]{2,}")
_OWNS = 0.5  # share of a description's words a row must hold to be that line's row
_SUMMARY = {"total", "subtotal", "tax"}


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def check_line_rows(items: Sequence[tuple[str, str | None, Any]], layout: Layout) -> tuple[list[Finding], int]:
    """(path, description, amount) per line item in; line amounts printed only on another line's row out.

    A line's amount is printed on its own row. When every row that shows the amount is another line's row
    (it holds more of that line's description than of this one's) while this line's description is found on
    a row of its own, the amount was most likely read from the neighbouring line. Two lines with the same
    amount are never doubted: the amount is then on this line's row too.
    """
    descs = [_words(d or "") for _, d, _ in items]
    rows = [_words(line.text) for line in layout.lines]

    def score(k: int, r: int) -> float:
        return len(descs[k] & rows[r]) / len(descs[k]) if descs[k] else 0.0

    out: list[Finding] = []
    n = 0
    # With one line its amount is the subtotal, and may be printed only there (a table of unit prices).
    billed = sum(a is not None for _, _, a in items) > 1
    for k, (path, _, amount) in enumerate(items):
        if amount is None or not descs[k] or float(amount).is_integer() and abs(amount) < 10:
            continue
        want = abs(to_decimal(amount))
        at = [(r, s) for r, line in enumerate(layout.lines) for s, _, d in line.numbers if d == want]
        own = [r for r in range(len(rows)) if score(k, r) >= _OWNS]
        if not at or not own:
            continue
        n += 1
        owners, sums = [], []
        for r, s in at:
            mine = score(k, r)
            rival = max(((score(j, r), j) for j in range(len(items)) if j != k and descs[j]), default=(0.0, -1))
            summary = [lb for lb in layout.lines[r].labels if lb[1] <= s and lb[2] in _SUMMARY]
            if mine < _OWNS and rival[0] >= _OWNS and rival[0] > mine:
                owners.append(rival[1])
            elif billed and mine < _OWNS and summary and rival[0] < _OWNS:
                sums.append(summary[-1][3])  # a row of the invoice's totals: "Subtotal 593.36"
            else:
                break  # a row of this line's, or of no line's: the amount may well be this line's own
        else:
            shown = format(want, "f")
            if owners:
                j = owners[0]
                other = (items[j][1] or "").strip()
                where = f"on the row of line {j + 1} ({other[:40]!r})" + (" and beside totals" if sums else "")
                out.append((path, "field_swap", f"{shown} is printed only {where}, not on this line's row; "
                                                f"the amount of another line?"))
            else:
                out.append((path, "field_swap", f"{shown} is printed only beside {sums[0]!r}, not on this line's "
                                                f"row; a total taken for the line amount?"))
    return out, n
