"""How well does `oculo.checks.verify` catch wrong values, and how often does it cry wolf?

On the shared invoices: the ground truth (invoice2data's field names, mapped to oculo's Invoice) is verified
against the document's own text (the PDF text layer, or Orlen.txt) as it is, which gives the false-warning
rate; then realistic errors are injected one at a time, each into a fresh copy, and an injection counts as
caught when the verifier raises a new warning on the mutated field or on a field whose arithmetic it breaks.

Field swaps (a value replaced by another one printed on the same invoice: total <-> subtotal or tax, issue
<-> due date, one line's amount for another's) are reported apart, per kind: one swap drawn per value, and
every other value of the invoice tried in turn.

    python bench/verify.py [--data DIR] [--seed N] [--verbose]

Prints a table, every miss (with --verbose also the misses among every other value) and, as the last line,
one JSON object.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from oculo.checks import index_document, parse_number, verify
from oculo.checks.layout import layout_from_pdf, layout_from_text

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "invoices"

# invoice2data's names -> oculo's Invoice.
FIELDS = {"issuer": "vendor", "amount": "total", "amount_untaxed": "subtotal", "amount_tax": "tax_total",
          "date": "issue_date", "date_due": "due_date", "invoice_number": "invoice_number",
          "currency": "currency", "vat": "vendor_tax_id"}
LINE_FIELDS = {"name": "description", "qty": "quantity", "price_unit": "unit_price", "price_subtotal": "amount",
               "line_tax_percent": "tax_rate", "discount": "discount"}
MONEY = ("total", "subtotal", "tax_total")
DATES = ("issue_date", "due_date")


def to_invoice(truth: Any) -> dict[str, Any]:
    rec = truth[0] if isinstance(truth, list) else truth
    out = {ours: rec[theirs] for theirs, ours in FIELDS.items() if rec.get(theirs) is not None}
    if isinstance(out.get("vendor_tax_id"), int):
        out["vendor_tax_id"] = str(out["vendor_tax_id"])
    lines = []
    for line in rec.get("lines") or []:
        item = {ours: line[theirs] for theirs, ours in LINE_FIELDS.items() if line.get(theirs) is not None}
        if item:  # section headers and notes are not billed lines
            lines.append(item)
    if lines:
        out["line_items"] = lines
    return out


def document_layout(truth_path: Path, text: str):
    """Words with boxes from the PDF text layer (what `oculo verify` uses), else the plain text's lines."""
    pdf = truth_path.with_suffix(".pdf")
    return (layout_from_pdf(str(pdf)) if pdf.exists() else None) or layout_from_text(text)


def document_text(truth_path: Path) -> str | None:
    pdf, txt = truth_path.with_suffix(".pdf"), truth_path.with_suffix(".txt")
    if pdf.exists():
        import pypdfium2 as pdfium

        doc = pdfium.PdfDocument(str(pdf))
        try:
            return "\n\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
        finally:
            doc.close()
    return txt.read_text(encoding="utf-8") if txt.exists() else None


# ---- mutations: each returns the wrong value, or None where the kind does not apply to this value ----

def _money_str(v: float) -> str:
    return f"{v:.2f}" if round(v, 2) == v else repr(v)


def _digits(s: str) -> list[int]:
    return [i for i, c in enumerate(s) if c.isdigit()]


def _swaps(s: str) -> list[str]:
    """Every string with two adjacent, different digits swapped (a separator between them is kept)."""
    pos = _digits(s)
    out = []
    for a, b in zip(pos, pos[1:]):
        if s[a] != s[b]:
            chars = list(s)
            chars[a], chars[b] = chars[b], chars[a]
            out.append("".join(chars))
    return out


def _swap(s: str, rng: random.Random) -> str | None:
    options = _swaps(s)
    return rng.choice(options) if options else None


def _drop(s: str, rng: random.Random, same: Callable[[str], bool]) -> str | None:
    options = [s[:i] + s[i + 1:] for i in _digits(s)]
    options = [o for o in options if any(c.isdigit() for c in o) and not same(o)]
    return rng.choice(sorted(set(options))) if options else None


def mutate_money(kind: str, v: float, rng: random.Random, text: str) -> float | None:
    s = _money_str(v)

    def same(o: str) -> bool:
        return float(o) == v

    if kind == "digit_swap":
        o = _swap(s, rng)
        return float(o) if o and not same(o) else None
    if kind == "digit_drop":
        o = _drop(s, rng, same)
        return float(o) if o else None
    if kind == "decimal_shift":
        return round(v * 10, 4) if v and rng.random() < 0.5 else (round(v / 10, 4) if v else None)
    if kind == "wrong_amount":
        return round(v * 1.1, 2) if round(v * 1.1, 2) != v else None
    if kind == "not_in_document":
        index = index_document(text)
        for _ in range(100):
            o = round(rng.uniform(max(v, 1) * 0.3, max(v, 1) * 3), 2)
            if not index.has_number(o):
                return o
    return None


def mutate_id(kind: str, v: str, rng: random.Random, text: str) -> str | None:
    if kind == "digit_swap":
        return _swap(v, rng)
    if kind == "digit_drop":
        return _drop(v, rng, lambda o: o == v)
    if kind == "not_in_document":
        index = index_document(text)
        for _ in range(100):
            o = "".join(rng.choice("0123456789") if c.isdigit() else rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ")
                        if c.isalpha() else c for c in v.ljust(6, "0"))
            if not index.has_identifier(o):
                return o
    return None


def mutate_date(kind: str, v: str, rng: random.Random, text: str) -> str | None:
    def valid(s: str) -> bool:
        try:
            return date.fromisoformat(s).isoformat() == s
        except ValueError:
            return False

    if kind == "day_month_swap":
        o = f"{v[:4]}-{v[8:10]}-{v[5:7]}"
        return o if valid(o) and o != v else None
    if kind == "digit_swap":
        options = [o for o in _swaps(v) if valid(o)]
        return rng.choice(options) if options else None
    if kind == "not_in_document":
        index = index_document(text)
        for _ in range(100):
            o = (date.fromisoformat(v) + timedelta(days=rng.choice([-1, 1]) * rng.randint(20, 400))).isoformat()
            if not index.has_date(o):
                return o
    return None


MONEY_KINDS = ("digit_swap", "digit_drop", "decimal_shift", "wrong_amount", "not_in_document")
ID_KINDS = ("digit_swap", "digit_drop", "not_in_document")
DATE_KINDS = ("digit_swap", "day_month_swap", "not_in_document")
ARITHMETIC = {"subtotal", "total", "tax_total"}
CHECK_OF = {"not_grounded": "grounding", "lines_sum": "arithmetic", "total_sum": "arithmetic",
            "tax_sum": "arithmetic", "line_product": "arithmetic", "tax_rate": "arithmetic",
            "line_rates": "arithmetic"}


def targets(inv: dict[str, Any]) -> list[tuple[str, tuple[str, ...], Callable, set[str]]]:
    """(path, kinds, mutator, fields whose warning counts) for every value worth corrupting."""
    out = []
    for f in MONEY:
        if parse_number(inv.get(f)) is not None:
            out.append((f, MONEY_KINDS, mutate_money, {f} | ARITHMETIC))
    for i, item in enumerate(inv.get("line_items", [])):
        if parse_number(item.get("amount")) is not None:
            p = f"line_items[{i}].amount"
            out.append((p, MONEY_KINDS, mutate_money, {p} | ARITHMETIC))
    if inv.get("invoice_number"):
        out.append(("invoice_number", ID_KINDS, mutate_id, {"invoice_number"}))
    for f in DATES:
        if inv.get(f):
            out.append((f, DATE_KINDS, mutate_date, set(DATES)))
    return out


def _get(inv: dict[str, Any], path: str) -> Any:
    if path.startswith("line_items["):
        i = int(path[len("line_items["):path.index("]")])
        return inv["line_items"][i], path.rsplit(".", 1)[1]
    return inv, path


def _keys(v: Any) -> set[tuple[str, str]]:
    return {(w.field, w.code) for w in v.warnings}


def _others(inv: dict[str, Any], path: str) -> list[Any]:
    """Values printed elsewhere on the same invoice that a model could put into `path` by mistake."""
    if path in DATES:
        pool = [inv.get(f) for f in DATES if f != path]
    else:
        pool = [inv.get(f) for f in MONEY if f != path]
        pool += [it.get("amount") for i, it in enumerate(inv.get("line_items", [])) if
                 f"line_items[{i}].amount" != path]
    here = _get(inv, path)
    mine = here[0][here[1]]
    return [v for v in pool if v is not None and v != mine and (path in DATES or parse_number(v) != parse_number(mine))]


SWAP_KINDS = {"amount_swap": "total <-> subtotal/tax", "date_swap": "issue <-> due date",
              "line_amount_swap": "line amounts"}


def swap_kind(path: str) -> str:
    """total <-> subtotal/tax and issue <-> due date have labels of their own; line amounts sit in rows."""
    return "amount_swap" if path in MONEY else "date_swap" if path in DATES else "line_amount_swap"


def _rate(c: Counter) -> dict[str, Any]:
    return {"injected": c["injected"], "caught": c["caught"],
            "detection": round(c["caught"] / c["injected"], 4) if c["injected"] else None}


def run(data: Path, seed: int, verbose: bool = False) -> dict[str, Any]:
    docs = []
    for truth_path in sorted(data.glob("*.json")):
        text = document_text(truth_path)
        if text is not None:
            docs.append((truth_path.stem, to_invoice(json.loads(truth_path.read_text(encoding="utf-8"))), text,
                         document_layout(truth_path, text)))
    if not docs:
        sys.exit(f"bench/verify.py: no ground truth with a document beside it in {data}; pass --data DIR")

    checked = false = 0
    by_kind: dict[str, Counter] = defaultdict(Counter)
    caught_by: Counter = Counter()  # which check raised the catching warning (several may)
    confusion: Counter = Counter()  # field confusion: reported apart, not part of the detection figure
    swaps: dict[str, Counter] = defaultdict(Counter)  # the same, per kind
    every: dict[str, Counter] = defaultdict(Counter)  # every other value of the invoice in turn, per kind
    rows, misses, false_list, confusion_misses, every_misses = [], [], [], [], []
    for name, inv, text, layout in docs:
        base = verify(inv, text, layout=layout)
        before = _keys(base)
        checked += base.checked
        false += len(base.warnings)
        false_list += [f"{name}: {w.field}: {w.message}" for w in base.warnings]
        rng = random.Random(zlib.crc32(name.encode()) + seed)

        def trial(path: str, wrong: Any, related: set[str], inv: dict[str, Any] = inv, text: str = text,
                  before: set[tuple[str, str]] = before, layout: Any = layout) -> set[tuple[str, str]]:
            bad = copy.deepcopy(inv)
            h, k = _get(bad, path)
            h[k] = wrong
            return {w for w in _keys(verify(bad, text, layout=layout)) - before if w[0] in related}

        d_inj = d_caught = 0
        for path, kinds, mutator, related in targets(inv):
            holder, key = _get(inv, path)
            original = holder[key]
            value = parse_number(original) if mutator is mutate_money else str(original)
            for kind in kinds:
                wrong = mutator(kind, value, rng, text)
                if wrong is None:
                    continue
                new = trial(path, wrong, related)
                caught_by.update({CHECK_OF.get(code, "plausibility") for _, code in new})
                d_inj += 1
                d_caught += bool(new)
                by_kind[kind]["injected"] += 1
                by_kind[kind]["caught"] += bool(new)
                if not new:
                    misses.append(f"{name}: {kind} {path} {original!r} -> {wrong!r}")
            if path != "invoice_number" and _others(inv, path):
                others = _others(inv, path)
                wrong = rng.choice(others)
                hit = bool(trial(path, wrong, related))
                confusion["injected"] += 1
                confusion["caught"] += hit
                swap = swap_kind(path)
                swaps[swap]["injected"] += 1
                swaps[swap]["caught"] += hit
                if not hit:
                    confusion_misses.append(f"{name}: {path} {original!r} -> {wrong!r}")
                for other in dict.fromkeys(others):  # every value printed elsewhere, not one drawn at random
                    hit = other == wrong and hit or bool(trial(path, other, related))
                    every[swap]["injected"] += 1
                    every[swap]["caught"] += hit
                    if not hit:
                        every_misses.append(f"{name}: {path} {original!r} -> {other!r}")
        rows.append((name, base.checked, len(base.warnings), d_inj, d_caught))

    injected = sum(c["injected"] for c in by_kind.values())
    caught = sum(c["caught"] for c in by_kind.values())
    print(f"{'document':<26}{'checked':>8}{'false':>7}{'injected':>10}{'caught':>8}")
    for r in rows:
        print(f"{r[0]:<26}{r[1]:>8}{r[2]:>7}{r[3]:>10}{r[4]:>8}")
    print(f"\n{'error kind':<26}{'injected':>10}{'caught':>8}{'rate':>8}")
    for kind, c in sorted(by_kind.items()):
        print(f"{kind:<26}{c['injected']:>10}{c['caught']:>8}{c['caught'] / c['injected']:>8.1%}")
    print(f"{'all':<26}{injected:>10}{caught:>8}{caught / max(injected, 1):>8.1%}")
    field = swaps["amount_swap"] + swaps["date_swap"]
    if confusion["injected"]:
        print("\nfield swaps: another value printed on the same invoice, one drawn per value (apart from 'all')")
        print(f"{'swap kind':<26}{'injected':>10}{'caught':>8}{'rate':>8}    every other value: caught / tried")
        for kind, title in SWAP_KINDS.items():
            c, e = swaps[kind], every[kind]
            print(f"{kind:<26}{c['injected']:>10}{c['caught']:>8}{c['caught'] / max(c['injected'], 1):>8.1%}"
                  f"    {e['caught']} / {e['injected']}  ({title})")
        e = sum(every.values(), Counter())
        print(f"{'all swaps':<26}{confusion['injected']:>10}{confusion['caught']:>8}"
              f"{confusion['caught'] / confusion['injected']:>8.1%}    {e['caught']} / {e['injected']}")
    print("\ncaught by (an error may be caught by several): " +
          ", ".join(f"{k} {v}/{caught}" for k, v in sorted(caught_by.items())))
    print(f"false warnings: {false} on {checked} checked values and rules")
    for line in false_list:
        print(f"false warning  {line}")
    for line in misses:
        print(f"missed         {line}")
    for line in confusion_misses:
        print(f"missed (field swap)  {line}")
    if verbose:
        for line in every_misses:
            print(f"missed (every other value)  {line}")
    return {"bench": "verify", "documents": len(docs), "injected": injected, "caught": caught,
            "detection": round(caught / injected, 4) if injected else None,
            "false_warning_rate": round(false / checked, 4) if checked else None,
            "false_warnings": false, "checked": checked, "caught_by": dict(sorted(caught_by.items())),
            "by_kind": {k: {"injected": c["injected"], "caught": c["caught"],
                            "detection": round(c["caught"] / c["injected"], 4)} for k, c in sorted(by_kind.items())},
            "field_confusion": {"injected": confusion["injected"], "caught": confusion["caught"],
                                # field_swap: total <-> subtotal/tax and issue <-> due date together
                                "field_swap": _rate(field), **{k: _rate(swaps[k]) for k in SWAP_KINDS},
                                "every_other_value": {k: _rate(every[k]) for k in SWAP_KINDS}}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA, help=f"folder of NAME.json + NAME.pdf (default {DATA})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", action="store_true",
                    help="also list the swaps missed when every other value of each invoice is tried")
    args = ap.parse_args()
    if not args.data.is_dir():
        sys.exit(f"bench/verify.py: {args.data} is not a folder; pass --data DIR")
    print(json.dumps(run(args.data, args.seed, args.verbose)))


if __name__ == "__main__":
    main()
