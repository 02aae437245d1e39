"""Verification: arithmetic, grounding in the document's text, plausibility, and verify()'s status."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from oculo.checks import check_arithmetic, index_document, parse_number, tolerance, verify

TODAY = date(2024, 6, 1)
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "invoices"


def codes(v) -> set[tuple[str, str]]:
    return {(w.field, w.code) for w in v.warnings}


def arith(rec, lines="line_items", tax="tax_total", extras=()):
    found, n = check_arithmetic(rec, lines, tax, extras)
    return {(f, c) for f, c, _ in found}, n


GOOD = {"subtotal": 100.0, "tax_total": 21.0, "total": 121.0,
        "line_items": [{"quantity": 2, "unit_price": 30.0, "amount": 60.0},
                       {"quantity": 4, "unit_price": 10.0, "amount": 40.0}],
        "tax_lines": [{"rate": 21, "base": 100.0, "amount": 21.0}]}


def test_parse_number_formats():
    for text, value in [("1.234,50", 1234.5), ("1,234.50", 1234.5), ("1 234,50", 1234.5), ("1234.5", 1234.5),
                        ("$ 4.11", 4.11), ("4,24 €", 4.24), ("(12.00)", -12.0), ("-9,32", -9.32),
                        ("1'234.50", 1234.5), ("21%", 21.0), ("1,5", 1.5), (7, 7.0)]:
        assert parse_number(text) == value, text
    assert parse_number("") is None and parse_number("n/a") is None and parse_number(None) is None
    for bad in ("abc", "1.2.3,4,5", True, [1]):
        with pytest.raises(ValueError):
            parse_number(bad)


def test_tolerance_cent_per_term_and_relative():
    assert tolerance(1.0, 1.0) == pytest.approx(0.01)
    assert tolerance(1.0, 1.0, terms=6) == pytest.approx(0.03)
    assert tolerance(1000.0, 990.0) == pytest.approx(1.0)  # sums: 0.1%
    assert tolerance(1000.0, 990.0, rel=0.005) == pytest.approx(5.0)  # products of rounded unit prices


def test_correct_invoice_passes_every_rule_within_rounding():
    found, n = arith(GOOD)
    assert found == set() and n == 6  # lines sum, total sum, tax lines sum, two line products, one tax line
    rounded = {"subtotal": 10.0, "tax_total": 1.62, "total": 11.62,  # 16.2% of 10.00 printed rounded
               "line_items": [{"quantity": 3, "unit_price": 3.33, "amount": 10.0}],
               "tax_lines": [{"rate": 16.2, "base": 10.0, "amount": 1.62}]}
    assert arith(rounded)[0] == set()


@pytest.mark.parametrize("path,value,expected", [
    (("subtotal",), 110.0, ("subtotal", "lines_sum")),
    (("total",), 131.0, ("total", "total_sum")),
    (("line_items", 0, "amount"), 66.0, ("line_items[0].amount", "line_product")),
    (("tax_lines", 0, "amount"), 12.0, ("tax_lines[0].amount", "tax_rate")),
    (("tax_total",), 12.1, ("tax_total", "tax_sum")),
])
def test_each_rule_catches_its_error(path, value, expected):
    rec = json.loads(json.dumps(GOOD))
    holder = rec
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    assert expected in arith(rec)[0]


def test_missing_inputs_skip_rules_instead_of_warning():
    assert arith({"total": 5.0}) == (set(), 0)
    assert arith({"subtotal": 5.0, "total": 6.0, "line_items": [{"description": "x"}]}) == (set(), 0)


def test_tax_inclusive_lines_sum_to_the_total():
    rec = {"subtotal": 82.64, "total": 100.0, "line_items": [
        {"quantity": 1, "unit_price": 60.5, "amount": 60.5, "tax_rate": 21},
        {"quantity": 1, "unit_price": 39.5, "amount": 39.5, "tax_rate": 21},
        {"description": "Incl. recycling fee €1.00", "quantity": 1, "amount": 1.21}]}  # already in a price
    assert arith(rec)[0] == set()
    rec["subtotal"] = 60.5  # the net no longer follows from the lines' 21%
    assert ("subtotal", "line_rates") in arith(rec)[0]


def test_receipt_tip_adds_to_total():
    rec = {"subtotal": 20.0, "tax": 2.0, "tip": 3.0, "total": 25.0, "items": [{"amount": 20.0}]}
    assert arith(rec, "items", "tax", ("tip",))[0] == set()
    rec["total"] = 22.0
    assert ("total", "total_sum") in arith(rec, "items", "tax", ("tip",))[0]


DOC = """Factuurnummer: INV-2014/0042   BTW NL 8104 33941 B01
Factuurdatum: 18 april 2014   Vervaldatum: 2.5.2014   Geleverd 13/05/2014
Artikel 1 x Laptop € 1.234,50
Totaal € 1 493,75 incl. 21% BTW 259,25"""


def test_grounding_index_formats():
    ix = index_document(DOC)
    for v in (1234.5, 1493.75, 259.25, 21.0):
        assert ix.has_number(v), v
    assert not ix.has_number(1243.5)
    assert ix.has_date("2014-04-18") and ix.has_date("2014-05-02") and ix.has_date("2014-05-13")
    assert not ix.has_date("2014-02-05")  # 13/05/2014 settles that this document writes the day first
    assert ix.has_identifier("INV-2014/0042") and ix.has_identifier("NL810433941B01")
    assert not ix.has_identifier("INV-2014/004")  # a prefix of a printed id is not that id


@pytest.mark.parametrize("written", ["2014-08-03", "03/08/2014", "08/03/2014", "3.8.2014", "03.08.2014",
                                     "3 August 2014", "August 3, 2014", "Aug 3 2014", "3 Aug 2014",
                                     "3 augustus 2014", "3 août 2014", "3. August 2014", "3 sierpnia 2014"])
def test_dates_in_written_forms(written):
    assert index_document(f"Date: {written}").has_date("2014-08-03")


def test_verify_grounding_and_tiny_integers():
    data = {"invoice_number": "INV-2014/0042", "issue_date": "2014-04-18", "total": 1493.75, "subtotal": 1234.5,
            "line_items": [{"quantity": 1, "amount": 1234.5, "tax_rate": 21}], "currency": "EUR"}
    v = verify(data, DOC, today=TODAY)
    assert v.status == "ok", v.to_dict()
    data["line_items"][0]["quantity"] = 3  # too common to be evidence: neither grounded nor counted
    assert verify(data, DOC, today=TODAY).status == "ok"
    assert verify(data, None, today=TODAY).status == "ok"  # no text: nothing to ground against
    data["total"] = 1439.75
    data["invoice_number"] = "INV-2014/0024"
    found = codes(verify(data, DOC, today=TODAY))
    assert {("total", "not_grounded"), ("invoice_number", "not_grounded"), ("total", "line_rates")} <= found


@pytest.mark.parametrize("field,value,code", [
    ("issue_date", "2023-02-30", "invalid_date"),
    ("issue_date", "03/08/2014", "invalid_date"),
    ("issue_date", "2031-01-01", "future_date"),
    ("issue_date", "1985-06-01", "old_date"),
    ("currency", "XYZ", "unknown_currency"),
    ("currency", "€", "unknown_currency"),
    ("total", -50.0, "negative_total"),
])
def test_plausibility(field, value, code):
    v = verify({"issue_date": "2024-01-10", field: value}, None, today=TODAY)
    assert (field, code) in codes(v)


def test_plausibility_passes_real_values_and_due_before_issue():
    ok = {"issue_date": "2024-01-10", "due_date": "2024-02-10", "currency": "HRK", "total": 10.0}
    assert verify(ok, None, today=TODAY).status == "ok"
    bad = ok | {"due_date": "2024-01-01"}
    assert ("due_date", "due_before_issue") in codes(verify(bad, None, today=TODAY))
    credit = {"issue_date": "2024-01-10", "total": -50.0}
    assert verify(credit, "CREDIT NOTE 17 of 10/01/2024\nTotal -50.00", today=TODAY).status == "ok"


def test_verify_status_and_lenient_reading():
    good = {"total": "1.493,75", "subtotal": "1.234,50", "tax_total": "259,25", "vendor": "X", "extra": [1]}
    v = verify(good, DOC, today=TODAY)
    assert v.status == "ok" and v.checked > 0 and v.to_dict()["warnings"] == []
    v = verify(good | {"total": "1500,00"}, None, today=TODAY)
    assert v.status == "warnings" and v.to_dict()["warnings"][0]["field"] == "total"
    assert verify(["not", "a", "record"], DOC).status == "failed"
    assert verify({"foo": 1}, DOC).status == "failed"
    assert verify({"line_items": "three laptops"}, DOC).status == "failed"
    v = verify({"total": "lots"}, None)
    assert v.status == "warnings" and ("total", "unreadable") in codes(v)
    receipt = {"date": "2024-05-01", "time": "14:32", "items": [{"amount": 20.0}], "subtotal": 20.0,
               "tax": 2.0, "total": 22.0}
    assert verify(receipt, None, schema="receipt", today=TODAY).status == "ok"


@pytest.mark.skipif(not (SHARED / "AmazonWebServices.json").exists(), reason="no /work/shared invoices")
def test_real_invoice_truth_verifies_against_its_text_layer():
    pdfium = pytest.importorskip("pypdfium2")
    truth = json.loads((SHARED / "AmazonWebServices.json").read_text())[0]
    doc = pdfium.PdfDocument(str(SHARED / "AmazonWebServices.pdf"))
    text = "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    data = {"vendor": truth["issuer"], "total": truth["amount"], "subtotal": truth["amount_untaxed"],
            "issue_date": truth["date"], "invoice_number": truth["invoice_number"], "currency": truth["currency"],
            "line_items": [{"description": line["name"], "amount": line["price_unit"]} for line in truth["lines"]]}
    v = verify(data, text)
    assert v.status == "ok", v.to_dict()
    assert v.checked >= 8  # the sum, four line amounts, total, subtotal, date, number, currency
    data["line_items"][1]["amount"] = "1.78"
    assert {("subtotal", "lines_sum"), ("line_items[1].amount", "not_grounded")} <= codes(verify(data, text))
