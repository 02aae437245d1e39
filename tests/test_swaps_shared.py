"""The swaps the label rules used to miss on the shared invoices stay caught, and their truth stays clean."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from oculo.checks import verify
from oculo.checks.layout import layout_from_pdf

SHARED = Path("/work/shared/data/invoices")
pytestmark = pytest.mark.skipif(not (SHARED / "free_fiber.json").exists(), reason="no shared invoices")


def _doc(name: str):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from verify import document_text, to_invoice  # the bench's truth mapping and text

    inv = to_invoice(json.loads((SHARED / f"{name}.json").read_text()))
    return inv, document_text(SHARED / f"{name}.json"), layout_from_pdf(str(SHARED / f"{name}.pdf"))


@pytest.mark.parametrize("name,path,rival", [
    ("free_fiber", "total", "subtotal"), ("free_fiber", "subtotal", "total"),
    ("NetpresseInvoice", "subtotal", "total"),
    ("coolblue1", "line_items[5].amount", "line_items[4].amount"),
    ("coolblue2", "line_items[7].amount", "total")])
def test_swap_caught_and_truth_clean(name, path, rival):
    inv, text, layout = _doc(name)
    assert verify(inv, text, layout=layout).status == "ok"

    def slot(rec, p):
        if p.startswith("line_items["):
            return rec["line_items"][int(p[11:p.index("]")])], p.rsplit(".", 1)[1]
        return rec, p

    h, k = slot(inv, path)
    rh, rk = slot(inv, rival)
    h[k] = rh[rk]
    v = verify(inv, text, layout=layout)
    assert (path, "field_swap") in {(w.field, w.code) for w in v.warnings}, v.to_dict()
