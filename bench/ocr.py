"""Benchmark: how much of each invoice's ground truth the classic OCR engines read, and how fast.

    python bench/ocr.py [--folder ../shared/data/invoices] [--dpi 200] [--max-pages 2] [--engines rapidocr,tesseract]

Every PDF with a NAME.json beside it is rendered (first --max-pages pages, at --dpi, as `oculo ocr` does) and read by
each engine; the PDF's own text layer is the reference row. A ground-truth value (issuer, invoice_number, date,
amount, amount_untaxed) counts as found when it occurs anywhere in the document's text. Seconds per page are OCR time
alone (models are loaded, and the first call made, before timing). The last line printed is one JSON object.

Matching is deliberately small: text and values are lower-cased and whitespace-collapsed, and a value may gain or
lose a space anywhere (OCR spacing such as "August 3 , 2014" is not what is measured), but never sits inside a longer
number. Amounts match as 1234.5, 1234.50, 1,234.50, 1234,50 or 1.234,50 (whole amounts also bare: 319). ISO dates
match as 2014-08-03, 03/08/2014, 08/03/2014, 3.8.14 (/, . or -; day or month first; 2- or 4-digit years) or written
with a month name or its first three letters in English, French, German or Dutch, the languages of the sample set
(August 3, 2014 / 3 Aug 2014 / 7. Mai 2014 / 29 maart 2014).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import time
from pathlib import Path

try:
    import oculo  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from PIL import Image

from oculo.engines.ocr import get_ocr_engine
from oculo.media.documents import open_document, text_layer

FIELDS = ("issuer", "invoice_number", "date", "amount", "amount_untaxed")
DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "invoices"
# Month names in the sample set's languages (English, French, German, Dutch); abbreviations are their first 3 letters.
MONTHS = [
    "january february march april may june july august september october november december",
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "januar februar märz april mai juni juli august september oktober november dezember",
    "januari februari maart april mei juni juli augustus september oktober november december",
]


def squash(text: str) -> str:
    return " ".join(text.lower().split())


def amount_forms(value: float) -> set[str]:
    whole, cents = f"{value:.2f}".split(".")
    grouped = f"{int(whole):,}"
    forms = {f"{whole}.{cents}", f"{grouped}.{cents}", f"{whole},{cents}", f"{grouped.replace(',', '.')},{cents}",
             f"{value:g}"}
    if cents == "00":
        forms.add(whole)
    return forms


def date_forms(iso: str) -> set[str]:
    d = dt.date.fromisoformat(iso)
    forms = {iso}
    for day in (f"{d.day:02d}", str(d.day)):
        for month in (f"{d.month:02d}", str(d.month)):
            for year in (str(d.year), f"{d.year % 100:02d}"):
                for sep in "/.-":
                    forms |= {f"{day}{sep}{month}{sep}{year}", f"{month}{sep}{day}{sep}{year}"}
        for names in MONTHS:
            full = names.split()[d.month - 1]
            for name in (full, full[:3]):
                forms |= {f"{name}{day},{d.year}", f"{name}{day}{d.year}", f"{day}{name}{d.year}",
                          f"{day}.{name}{d.year}"}
    return forms


def pattern(form: str) -> re.Pattern[str]:
    # OCR adds or drops spaces ("August 3 , 2014", "4. 11"): allow one anywhere. Digits may not continue on either
    # side, so 4.11 is not found inside 14.115.
    body = r"\s?".join(re.escape(c) for c in form if not c.isspace())
    return re.compile(rf"(?<!\d){body}(?!\d)")


def found(field: str, value: object, text: str) -> bool:
    if field in ("amount", "amount_untaxed"):
        forms = amount_forms(float(value))  # type: ignore[arg-type]
    elif field == "date":
        forms = date_forms(str(value))
    else:
        forms = {squash(str(value))}
    return any(pattern(f).search(text) for f in forms if f)


def truth(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text(encoding="utf-8"))
    record = data[0] if isinstance(data, list) else data
    return {f: record[f] for f in FIELDS if record.get(f) not in (None, "")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    ap.add_argument("--dpi", type=float, default=200)
    ap.add_argument("--max-pages", type=int, default=2, help="pages read per document (0: all)")
    ap.add_argument("--engines", default="rapidocr,tesseract")
    ap.add_argument("-v", "--verbose", action="store_true", help="list the values each engine missed")
    args = ap.parse_args()

    docs = sorted(p for p in args.folder.glob("*.pdf") if p.with_suffix(".json").is_file())
    if not docs:
        sys.exit(f"{args.folder}: no PDFs with a .json ground truth beside them")
    engines = {}
    for name in args.engines.split(","):
        t0 = time.perf_counter()
        engines[name] = get_ocr_engine(name)
        engines[name].read(Image.new("RGB", (64, 64), "white"))  # loads the models lazily held back until now
        print(f"{name}: ready in {time.perf_counter() - t0:.2f} s", file=sys.stderr)

    rows = {name: {"found": 0, "seconds": 0.0} for name in ["text_layer", *engines]}
    per_field = {name: {f: 0 for f in FIELDS} for name in rows}
    field_totals = {f: 0 for f in FIELDS}
    total = pages = 0
    for doc in docs:
        values = truth(doc.with_suffix(".json"))
        t0 = time.perf_counter()
        count = len(text_layer(doc))
        last = min(count, args.max_pages) if args.max_pages else count
        doc_pages = open_document(doc, pages=f"1-{last}", dpi=args.dpi, max_pixels=40_000_000)
        texts = {"text_layer": "\n".join(p.text or "" for p in doc_pages)}
        rows["text_layer"]["seconds"] += time.perf_counter() - t0  # render included: an upper bound for the layer
        for name, engine in engines.items():
            t0 = time.perf_counter()
            texts[name] = "\n".join(engine.read(p.image).text for p in doc_pages)
            rows[name]["seconds"] += time.perf_counter() - t0
        pages += len(doc_pages)
        total += len(values)
        for f in values:
            field_totals[f] += 1
        for name, text in texts.items():
            squashed = squash(text)
            hits = {f for f, v in values.items() if found(f, v, squashed)}
            rows[name]["found"] += len(hits)
            for f in hits:
                per_field[name][f] += 1
            if args.verbose and len(hits) < len(values):
                missed = {f: values[f] for f in values if f not in hits}
                print(f"  {doc.name} {name} missed {missed}", file=sys.stderr)

    print(f"{len(docs)} documents, {pages} pages at {args.dpi:g} dpi, {total} ground-truth values")
    head = f"{'engine':<11} {'found':>6} " + " ".join(f"{f[:14]:>14}" for f in FIELDS) + f" {'s/page':>7}"
    print(head)
    print("-" * len(head))
    for name, row in rows.items():
        cells = " ".join(f"{per_field[name][f]:>9}/{field_totals[f]:<4}" for f in FIELDS)
        print(f"{name:<11} {row['found'] / total:>6.1%} {cells} {row['seconds'] / pages:>7.2f}")
    print(json.dumps({"bench": "ocr", "documents": len(docs), "pages": pages, "dpi": args.dpi, "values": total,
                      "engines": {name: {"found": round(row["found"] / total, 3),
                                         "s_per_page": round(row["seconds"] / pages, 3)}
                                  for name, row in rows.items()}}))


if __name__ == "__main__":
    main()
