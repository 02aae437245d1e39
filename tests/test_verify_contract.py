"""`oculo verify` never passes what it did not check; field swaps are caught by the label beside a value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from oculo.checks import verify
from oculo.checks.layout import layout_from_pdf
from oculo.cli import cli

SHARED = Path("/work/shared/data/invoices")
needs_shared = pytest.mark.skipif(not (SHARED / "AzureInterior.json").exists(), reason="no shared invoices")


def _run(doc: Path, data: object, tmp_path: Path, *extra: str):
    f = tmp_path / "x.json"
    f.write_text(json.dumps(data))
    return CliRunner().invoke(cli, ["verify", str(doc), "--data", str(f), *extra])


@needs_shared
def test_unknown_keys_fail_naming_them(tmp_path):
    r = _run(SHARED / "AzureInterior.pdf", {"vendor": "Azure", "totl": 1.0}, tmp_path)
    assert r.exit_code == 1, r.output
    assert "failed" in r.output and "'totl'" in r.output and "total" in r.output


@needs_shared
def test_truth_format_is_mapped_and_a_wrong_amount_caught(tmp_path):
    truth = json.loads((SHARED / "AzureInterior.json").read_text())
    r = _run(SHARED / "AzureInterior.pdf", truth, tmp_path, "--json")
    out = json.loads(r.output)
    assert r.exit_code == 0 and out["status"] == "ok", out
    assert out["mapped_from"] == "invoice2data" and out["checked"] > 10
    assert out["checks"]["arithmetic"] > 0 and out["checks"]["grounding"] > 0
    assert out["found"]["total"][0]["page"] == 1 and len(out["found"]["total"][0]["box"]) == 4
    truth[0]["amount"] = 307.82
    r = _run(SHARED / "AzureInterior.pdf", truth, tmp_path)
    assert "warnings" in r.output and "total:" in r.output and "checked (arithmetic" in r.output


def test_no_text_document_is_not_ok(tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 100), "white").save(blank)
    r = _run(blank, {"total": 12.5, "issue_date": "2024-01-02"}, tmp_path)
    assert "warnings" in r.output and "grounding impossible" in r.output and "grounding 0" in r.output
    assert verify({"vendor": "X"}, None).status != "ok"  # nothing checkable is never ok


@needs_shared
@pytest.mark.parametrize("name,field,rival", [("NetpresseInvoice", "total", "subtotal"),
                                              ("AzureInterior", "issue_date", "due_date")])
def test_swapped_field_flagged(name, field, rival):
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from verify import document_text, to_invoice  # the bench's truth mapping and text

    inv = to_invoice(json.loads((SHARED / f"{name}.json").read_text()))
    text, layout = document_text(SHARED / f"{name}.json"), layout_from_pdf(str(SHARED / f"{name}.pdf"))
    assert verify(inv, text, layout=layout).status == "ok"
    inv[field] = inv[rival]
    v = verify(inv, text, layout=layout)
    assert (field, "field_swap") in {(w.field, w.code) for w in v.warnings}, v.to_dict()
