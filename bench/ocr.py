"""Benchmark: how much of each invoice's ground truth the classic OCR engines read, and how fast.

    python bench/ocr.py [--sets born,scanned,rotated,synthetic,synthetic-rotated] [--seeds 1000-1011]
                        [--folder ../shared/data/invoices] [--max-docs 0] [--max-pages 1] [--dpi 200]
                        [--engines rapidocr,tesseract] [--baseline]

Sets of pages, each read the way `oculo ocr` reads a document (`tasks.ocr.ocr_document`: text PDFs rendered at its
resolution, image-only PDFs at the scan's own, pages without a text layer turned upright first):
- born: every PDF in --folder with a NAME.json beside it (first --max-pages pages); the PDF's own text layer is the
  reference row.
- scanned: the same pages drawn at 300 dpi and scanned (`bench/scanned.py`: 150 dpi, 1-2 degrees of skew, blur,
  noise, JPEG) into an image-only PDF.
- rotated: those scans fed in at 90, 180 or 270 degrees (taken in turn), to score against `scanned`.
- synthetic: invoices generated from --seeds (`bench/scanned.py`), scanned the same way; not in the repo, so a seed
  range not used while tuning is a held-out set. synthetic-rotated: the same scans turned 90/180/270 degrees.

A ground-truth value (issuer, invoice_number, date, amount, amount_untaxed) counts as found when it occurs anywhere in
the document's text. Seconds per page are the engine's time alone (models are loaded, and the first call made,
before timing; rendering and orientation are not counted): wall and CPU (all threads). `--baseline` adds
`rapidocr-defaults`, RapidOCR as it comes (its per-line angle classifier, detection at up to 2000 px, batches of 6,
onnxruntime's own threads), read on the same pages in the same run, the order of the two alternating per document,
and prints oculo's RapidOCR time as a ratio of it. The last line printed is one JSON object.

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
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

try:
    import oculo  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import scanned  # bench/scanned.py, beside this file
from PIL import Image

from oculo.engines.ocr import RAPIDOCR_DEFAULTS, RAPIDOCR_TUNED, OcrEngine, OcrPage, RapidOcrEngine, get_ocr_engine
from oculo.media.documents import open_document, text_layer
from oculo.tasks.ocr import ocr_document

SETS = ("born", "scanned", "rotated", "synthetic", "synthetic-rotated")
ROTATIONS = (90, 180, 270)
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


def cpu_seconds() -> float:
    """CPU time of this process's threads and of its finished children (tesseract runs as one per page)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Timed:
    """An engine whose `read` adds up its own wall and CPU seconds and counts the pages."""

    def __init__(self, engine: OcrEngine) -> None:
        self.engine, self.wall, self.cpu, self.pages = engine, 0.0, 0.0, 0
        read = engine.read

        def timed_read(image: Image.Image) -> OcrPage:
            w0, c0 = time.perf_counter(), cpu_seconds()
            page = read(image)
            self.wall += time.perf_counter() - w0
            self.cpu += cpu_seconds() - c0
            self.pages += 1
            return page

        engine.read = timed_read  # type: ignore[method-assign]


def open_engine(name: str, args: argparse.Namespace) -> OcrEngine:
    if name == "rapidocr-defaults":
        return RapidOcrEngine(settings=RAPIDOCR_DEFAULTS, threads=None)
    options: dict[str, object] = {}
    if name == "rapidocr" and args.rapidocr_threads is not None:
        options["threads"] = args.rapidocr_threads or None
    if name == "rapidocr" and args.detect_side:
        options["settings"] = {**RAPIDOCR_TUNED, "Det.limit_side_len": args.detect_side}
    return get_ocr_engine(name, **options)


def shared_docs(folder: Path, max_docs: int) -> list[Path]:
    docs = sorted(p for p in folder.glob("*.pdf") if p.with_suffix(".json").is_file())
    if not docs:
        sys.exit(f"{folder}: no PDFs with a .json ground truth beside them")
    return docs[:max_docs] if max_docs else docs


def scanned_copies(docs: list[Path], max_pages: int, out: Path, rotated: bool) -> list[tuple[Path, Path]]:
    """Each document's first pages drawn at 300 dpi and scanned into an image-only PDF: (scan, truth file)."""
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for k, doc in enumerate(docs):
        count = len(text_layer(doc))
        last = min(count, max_pages) if max_pages else count
        paper = open_document(doc, pages=f"1-{last}", dpi=scanned.PAPER_DPI, max_pixels=100_000_000)
        rng = random.Random(k)  # the same scan whether upright or turned
        turn = ROTATIONS[k % len(ROTATIONS)] if rotated else 0
        pages = [scanned.scan(p.image, rng, paper_dpi=p.dpi or scanned.PAPER_DPI, rotate=turn) for p in paper]
        pdf = scanned.save_scan_pdf(pages, out / f"{doc.stem}{f'-r{turn}' if turn else ''}.pdf",
                                    quality=rng.randint(55, 85))
        made.append((pdf, doc.with_suffix(".json")))
    return made


def synthetic_docs(seeds: list[int], out: Path, rotated: bool) -> list[tuple[Path, Path]]:
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for seed in seeds:
        pdf, _ = scanned.make_scanned_invoice(seed, out, rotate=ROTATIONS[seed % len(ROTATIONS)] if rotated else 0)
        made.append((pdf, pdf.with_suffix(".json")))
    return made


def run_set(name: str, docs: list[tuple[Path, Path]], engines: dict[str, OcrEngine], args: argparse.Namespace,
            text_row: bool) -> dict[str, object]:
    timed = {n: Timed(e) for n, e in engines.items()}
    found_n = {n: 0 for n in (["text_layer"] if text_row else []) + list(engines)}
    per_field = {n: {f: 0 for f in FIELDS} for n in found_n}
    field_totals = {f: 0 for f in FIELDS}
    total = pages = turned = 0
    names = list(engines)
    for k, (pdf, truth_file) in enumerate(docs):
        values = truth(truth_file)
        count = len(text_layer(pdf))
        last = min(count, args.max_pages) if args.max_pages else count
        texts = {}
        if text_row:
            texts["text_layer"] = "\n".join(text_layer(pdf, pages=f"1-{last}"))
        # Alternate the order per document: a machine that slows down or speeds up mid-run favours neither engine.
        for n in (names if k % 2 == 0 else names[::-1]):
            read = ocr_document(pdf, engines[n], pages=f"1-{last}", dpi=args.dpi)
            texts[n] = "\n".join(p.text for p in read)
            turned += sum(1 for p in read if p.rotated)
        pages += last
        total += len(values)
        for f in values:
            field_totals[f] += 1
        for n, text in texts.items():
            squashed = squash(text)
            hits = {f for f, v in values.items() if found(f, v, squashed)}
            found_n[n] += len(hits)
            for f in hits:
                per_field[n][f] += 1
            if args.verbose and len(hits) < len(values):
                missed = {f: values[f] for f in values if f not in hits}
                print(f"  {pdf.name} {n} missed {missed}", file=sys.stderr)

    print(f"\n[{name}] {len(docs)} documents, {pages} pages, {total} ground-truth values"
          + (f", {turned} page readings turned upright" if turned else ""))
    head = f"{'engine':<18} {'found':>6} " + " ".join(f"{f[:14]:>14}" for f in FIELDS) + \
        f" {'s/page':>7} {'cpu s/page':>10}"
    print(head)
    print("-" * len(head))
    rows: dict[str, dict[str, object]] = {}
    for n in found_n:
        t = timed.get(n)
        wall = t.wall / max(t.pages, 1) if t else None
        cpu = t.cpu / max(t.pages, 1) if t else None
        cells = " ".join(f"{per_field[n][f]:>9}/{field_totals[f]:<4}" for f in FIELDS)
        print(f"{n:<18} {found_n[n] / total:>6.1%} {cells} {wall if wall is not None else float('nan'):>7.2f} "
              f"{cpu if cpu is not None else float('nan'):>10.2f}")
        rows[n] = {"found": round(found_n[n] / total, 4), "values": total}
        if t:
            rows[n] |= {"s_per_page": round(wall or 0, 3), "cpu_s_per_page": round(cpu or 0, 3)}
    result: dict[str, object] = {"documents": len(docs), "pages": pages, "values": total, "engines": rows}
    if "rapidocr" in timed and "rapidocr-defaults" in timed:
        new, old = timed["rapidocr"], timed["rapidocr-defaults"]
        ratio = {"wall": round(new.wall / old.wall, 3), "cpu": round(new.cpu / old.cpu, 3)}
        print(f"rapidocr vs rapidocr-defaults, same pages: {ratio['wall']:.2f}x the wall time, "
              f"{ratio['cpu']:.2f}x the CPU time; recall {found_n['rapidocr'] / total:.1%} vs "
              f"{found_n['rapidocr-defaults'] / total:.1%}")
        result["rapidocr_vs_defaults"] = ratio
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="born", help=f"comma-separated, of {', '.join(SETS)}")
    ap.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    ap.add_argument("--seeds", default="1000-1011", help="synthetic invoices' seeds, e.g. 0-19 or 1000-1011")
    ap.add_argument("--dpi", type=float, default=None, help="render text PDFs at this resolution (default: oculo "
                    "ocr's own); scans are always read at their own")
    ap.add_argument("--max-pages", type=int, default=1, help="pages read per document (0: all)")
    ap.add_argument("--max-docs", type=int, default=0, help="documents taken from --folder (0: all)")
    ap.add_argument("--engines", default="rapidocr,tesseract")
    ap.add_argument("--baseline", action="store_true", help="also read every page with RapidOCR's own defaults")
    ap.add_argument("--rapidocr-threads", type=int, default=None,
                    help="onnxruntime threads for oculo's rapidocr (0: onnxruntime's own choice; default: oculo's)")
    ap.add_argument("--detect-side", type=int, default=0, help="RapidOCR's detection size, in place of oculo's")
    ap.add_argument("-v", "--verbose", action="store_true", help="list the values each engine missed")
    args = ap.parse_args()
    sets = args.sets.split(",")
    if bad := [s for s in sets if s not in SETS]:
        ap.error(f"unknown set {bad[0]!r}; choose from {', '.join(SETS)}")

    names = args.engines.split(",") + (["rapidocr-defaults"] if args.baseline else [])
    engines = {}
    for name in names:
        t0 = time.perf_counter()
        engines[name] = open_engine(name, args)
        engines[name].read(Image.new("RGB", (64, 64), "white"))  # loads the models lazily held back until now
        print(f"{name}: ready in {time.perf_counter() - t0:.2f} s", file=sys.stderr)

    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="oculo-bench-ocr-") as tmp:
        for name in sets:
            if name == "born":
                docs = [(d, d.with_suffix(".json")) for d in shared_docs(args.folder, args.max_docs)]
            elif name in ("scanned", "rotated"):
                docs = scanned_copies(shared_docs(args.folder, args.max_docs), args.max_pages, Path(tmp) / name,
                                      rotated=name == "rotated")
            else:
                docs = synthetic_docs(scanned.seed_range(args.seeds), Path(tmp) / name,
                                      rotated=name == "synthetic-rotated")
            results[name] = run_set(name, docs, engines, args, text_row=name == "born")
    print(json.dumps({"bench": "ocr", "dpi": args.dpi, "seeds": args.seeds, "sets": results}))


if __name__ == "__main__":
    main()
