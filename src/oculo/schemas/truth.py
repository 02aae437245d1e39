"""Ground truth in invoice2data's format (what `oculo eval` reads) mapped onto the invoice schema's names.

It lives with the schemas because both the evaluator (tasks) and the verifier (checks) read it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["INVOICE2DATA", "map_truth"]

# invoice2data's names -> oculo's Invoice names; "line_items" maps a list and the names inside its items.
INVOICE2DATA: dict[str, Any] = {
    "vendor": "issuer", "issue_date": "date", "total": "amount", "subtotal": "amount_untaxed",
    "invoice_number": "invoice_number", "currency": "currency", "tax_total": "amount_tax",
    "line_items": {"from": "lines", "fields": {"description": "name", "quantity": "qty", "unit_price": "price_unit",
                                               "amount": "price_subtotal", "tax_rate": "line_tax_percent"}},
}


def map_truth(truth: Any, mapping: dict[str, Any]) -> dict[str, Any]:
    record = truth[0] if isinstance(truth, list) and truth else truth
    if not isinstance(record, dict):
        return {}
    out: dict[str, Any] = {}
    for ours, theirs in mapping.items():
        if isinstance(theirs, dict):
            if theirs.get("from", ours) not in record:
                continue  # truth without line items must not count as "zero items"
            inner = theirs.get("fields", {})
            items = record.get(theirs.get("from", ours)) or []
            out[ours] = [{k: item.get(v) for k, v in inner.items()} for item in items if isinstance(item, dict)]
        elif theirs in record:
            out[ours] = record[theirs]
    return out
