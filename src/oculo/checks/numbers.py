"""Arithmetic: the sums an invoice or receipt must satisfy, and the number reading that grounding shares.

Tolerance: printed amounts are rounded to the cent, so a sum of them may be off by half a cent per term.
Sums must agree within max(0.01, half a cent per term, 0.1% of the larger value): the 0.1% admits
whole-unit round-off lines (a rupee on a few hundred) and cash rounding (0.05 CHF), while 0.5% would let
a 7.50 slip on a 1,500 total pass. Products (quantity x unit price, rate x base) get max(0.01, 0.5%),
because unit prices are printed rounded too: a unit price of 1 or more rounded to the cent is within 0.5%
of itself, and so is its product with any quantity. An error below the tolerance slips past arithmetic but
not grounding: the wrong value is still not printed in the document, so the two checks cover each other.

Checks are skipped when their inputs are missing: the status reports contradictions, not absences.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ..schemas.numbers import parse_number, readings

__all__ = ["Finding", "check_arithmetic", "close", "parse_number", "readings", "tolerance"]

Finding = tuple[str, str, str]  # (JSON path, code, message)

# A line that only restates an amount already inside another line ("Incl. home-copy levy €3.50",
# "davon MwSt", "dont TVA") must not be added again when summing lines.
_INCLUDED = re.compile(r"^\W*(incl\b|incl\.|inkl\b|inkl\.|including|includes|inclusief|inbegrepen|davon|dont\b|"
                       r"w tym)", re.IGNORECASE)


SUM, PRODUCT = 0.001, 0.005  # relative tolerances, see the module's docstring


def tolerance(a: float, b: float, terms: int = 1, rel: float = SUM) -> float:
    return max(0.01, 0.005 * terms, rel * max(abs(a), abs(b))) + 1e-9  # + float noise


def close(a: float, b: float, terms: int = 1, rel: float = SUM) -> bool:
    return abs(a - b) <= tolerance(a, b, terms, rel)


def _fmt(x: float) -> str:
    return f"{x:,.2f}"


def _line_amount(item: dict[str, Any]) -> float | None:
    if item.get("amount") is not None:
        return item["amount"]
    q, p = item.get("quantity"), item.get("unit_price")
    if q is None or p is None:
        return None
    return q * p * (1 - (item.get("discount") or 0) / 100)


def _included(item: dict[str, Any]) -> bool:
    return bool(_INCLUDED.match(item.get("description") or ""))


def _line_rates(lines: list[dict[str, Any]], amounts: list[float], net: list[int] | None,
                gross: list[int] | None, sub: float, total: float) -> tuple[list[Finding], int]:
    """With a rate on every line, the tax is implied by the lines: the net and gross totals must follow."""
    idx = net if net is not None else gross
    assert idx is not None
    rates = [r for i in idx if (r := lines[i].get("tax_rate")) is not None]
    if len(rates) < len(idx):  # a line without a rate
        return [], 0
    k = len(idx)
    if net is not None:
        implied = sum(amounts[i] * r / 100 for i, r in zip(idx, rates))
        if not close(sub + implied, total, k):
            msg = f"the line tax rates give a total of {_fmt(sub + implied)}, not {_fmt(total)}"
            return [("total", "line_rates", msg)], 1
    else:
        implied_net = sum(amounts[i] / (1 + r / 100) for i, r in zip(idx, rates))
        if not close(implied_net, sub, k):
            msg = (f"the tax-inclusive lines at their tax rates give a net {_fmt(implied_net)}, "
                   f"not the subtotal {_fmt(sub)}")
            return [("subtotal", "line_rates", msg)], 1
    return [], 1


def check_arithmetic(rec: dict[str, Any], lines_key: str, tax_key: str,
                     extras: tuple[str, ...] = ()) -> tuple[list[Finding], int]:
    """Findings and how many rules could be applied, for a record already read into plain floats."""
    out: list[Finding] = []
    n = 0
    lines = [it for it in rec.get(lines_key) or [] if isinstance(it, dict)]
    sub, total = rec.get("subtotal"), rec.get("total")
    tax = rec.get(tax_key)
    tax_lines = rec.get("tax_lines") or []
    tax_sum = None
    if tax_lines and all(t.get("amount") is not None for t in tax_lines):
        tax_sum = sum(t["amount"] for t in tax_lines)
        if tax is not None:
            n += 1
            if not close(tax_sum, tax, len(tax_lines)):
                msg = f"tax lines add up to {_fmt(tax_sum)}, not the tax total {_fmt(tax)}"
                out.append((tax_key, "tax_sum", msg))
    tax = tax if tax is not None else tax_sum

    maybe = [_line_amount(it) for it in lines]
    if lines and all(a is not None for a in maybe) and (sub is not None or total is not None):
        n += 1
        amounts = [a for a in maybe if a is not None]
        full = sum(amounts)
        sets = [list(range(len(lines)))]
        kept = [i for i, it in enumerate(lines) if not _included(it)]
        if kept and len(kept) < len(lines):
            sets.append(kept)
        k = len(lines)
        net = gross = None  # the lines that add up to the subtotal (net) or to the total (tax included)
        for idx in sets:
            s = sum(amounts[i] for i in idx)
            if sub is not None and close(s, sub, k):
                net = net or idx
            elif total is not None and (close(s, total, k) or (sub is None and tax is not None
                                                                and close(s, total - tax, k))):
                gross = gross or idx
        if net is None and gross is None:
            shown = _fmt(full)
            if len(sets) > 1:
                shown += f" ({_fmt(sum(amounts[i] for i in kept))} without the 'incl.' lines)"
            if sub is not None:
                nor = f" nor the total {_fmt(total)}" if total is not None else ""
                out.append(("subtotal", "lines_sum",
                            f"line amounts add up to {shown}, which is not the subtotal {_fmt(sub)}{nor}"))
            else:
                assert total is not None  # this block runs only with a subtotal or a total
                out.append(("total", "lines_sum",
                            f"line amounts add up to {shown}, which does not match the total {_fmt(total)}"))
        elif sub is not None and total is not None and not close(sub, total):
            found, applied = _line_rates(lines, amounts, net, gross, sub, total)
            out += found
            n += applied

    if sub is not None and tax is not None and total is not None:
        n += 1
        parts = [sub, tax] + [rec[e] for e in extras if rec.get(e) is not None]
        if not close(sum(parts), total, len(parts)):
            names = " + ".join(["subtotal", tax_key] + [e for e in extras if rec.get(e) is not None])
            out.append(("total", "total_sum", f"{names} = {_fmt(sum(parts))}, but the total is {_fmt(total)}"))

    for i, it in enumerate(lines):
        q, p, a = it.get("quantity"), it.get("unit_price"), it.get("amount")
        if q is None or p is None or a is None:
            continue
        n += 1
        base = q * p * (1 - (it.get("discount") or 0) / 100)
        rate = it.get("tax_rate")
        # Unit prices net and the line gross, or the other way round, are both common; either is consistent.
        options = [base] + ([base * (1 + rate / 100), base / (1 + rate / 100)] if rate else [])
        if not any(close(o, a, rel=PRODUCT) for o in options):
            out.append((f"{lines_key}[{i}].amount", "line_product",
                        f"{q:g} × {_fmt(p)} = {_fmt(base)}, but the line amount is {_fmt(a)}"))

    for i, t in enumerate(tax_lines):
        r, b, a = t.get("rate"), t.get("base"), t.get("amount")
        if r is None or b is None or a is None:
            continue
        n += 1
        if not close(b * r / 100, a, rel=PRODUCT):
            out.append((f"tax_lines[{i}].amount", "tax_rate",
                        f"{r:g}% of {_fmt(b)} is {_fmt(b * r / 100)}, but the tax amount is {_fmt(a)}"))
    return out, n


def to_decimal(x: float) -> Decimal:
    """The value as printed, without float noise: 262.90000000000003 -> 262.9."""
    try:
        return Decimal(repr(round(x, 6))).normalize()
    except InvalidOperation:  # pragma: no cover - finite floats always convert
        return Decimal(0)
