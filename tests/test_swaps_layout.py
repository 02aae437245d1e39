"""Field swaps caught by where a value is printed: small constructed documents, words placed on a grid.

Each document is plain text laid out in columns (layout_from_text gives every word its column and line as a
box), so the geometry the rules read is the one written below.
"""

from __future__ import annotations

from oculo.checks import verify
from oculo.checks.layout import layout_from_text


def _swaps(rec: dict, doc: str) -> set[str]:
    v = verify(rec, doc, layout=layout_from_text(doc))
    return {w.field for w in v.warnings if w.code == "field_swap"}


# French: net, tax and gross in columns under "EUR HT" / "EUR TTC", then the totals as rows.
FRENCH_COLUMNS = """\
Facture n 562044 du 02/07/2015
                         Montant   Montant   Montant
                         EUR HT      TVA     EUR TTC
Abonnements               24.99      5.00     29.99
Total facture             24.99      5.00     29.99
Somme a payer                                 29.99
"""

# The totals block under a table whose last column is headed "Montant HT".
FRENCH_TOTALS = """\
Designation          Nombre    P.U. HT    Montant HT
Annonce legale                              45,93
Justificatif PDF        1        0,75        0,75
                        Total HT :          46,68
                        TVA 20% :            9,34
                        Total TTC :         56,02
"""


def test_subtotal_under_an_ht_header_is_not_the_total():
    rec = {"subtotal": 24.99, "tax_total": 5.0, "total": 29.99}
    assert _swaps(rec, FRENCH_COLUMNS) == set()
    # "Total facture 24.99 ... 29.99": the row label names the row; the column header names each value.
    assert "total" in _swaps({"total": 24.99}, FRENCH_COLUMNS)


def test_subtotal_equal_to_total_is_a_swap_where_the_document_shows_tax_and_its_own_subtotal():
    # No tax extracted, so subtotal == total would be excused, but the page prints TVA 9,34 and a Total HT.
    assert _swaps({"subtotal": 56.02, "total": 56.02}, FRENCH_TOTALS) == {"subtotal"}
    assert _swaps({"subtotal": 29.99, "total": 29.99}, FRENCH_COLUMNS) == {"subtotal"}
    assert _swaps({"subtotal": 46.68, "total": 56.02}, FRENCH_TOTALS) == set()


def test_a_rate_between_label_and_amount_does_not_hide_the_label():
    # "TVA 20% : 9,34": the 20% is no rival value, and the "Montant HT" header far above does not reach past
    # the labelled "Total HT" row: 9,34 is the tax.
    assert _swaps({"subtotal": 46.68, "tax_total": 9.34, "total": 56.02}, FRENCH_TOTALS) == set()
    assert "tax_total" in _swaps({"subtotal": 46.68, "tax_total": 46.68, "total": 56.02}, FRENCH_TOTALS)


def test_unit_price_header_is_not_a_subtotal_label():
    layout = layout_from_text(FRENCH_TOTALS)
    labels = {o.label for o in layout.find("number", 0.75)}
    assert "unit_price" in labels and "subtotal" in labels  # 0,75 under P.U. HT and under Montant HT


def test_invoice_without_tax_may_have_subtotal_equal_to_total():
    only_total = "Invoice 123\nWidgets                100.00\nTotal                  100.00\n"
    assert _swaps({"subtotal": 100.0, "total": 100.0}, only_total) == set()
    both = "Invoice 123\nSubtotal               100.00\nTotal                  100.00\n"
    assert _swaps({"subtotal": 100.0, "total": 100.0}, both) == set()


def test_abbreviated_date_labels():
    doc = "Invoice no 55\nInv. Date: 01/03/2024\nDue: 31/03/2024\nTotal 120.00\n"
    assert _swaps({"issue_date": "2024-03-01", "due_date": "2024-03-31"}, doc) == set()
    assert _swaps({"issue_date": "2024-03-31", "due_date": "2024-03-31"}, doc) == {"issue_date"}


TABLE = """\
Article                          Qty   Price     Amount
Apple iPad Air Wifi 16 GB          1   399,00    399,00
Nintendo AC-adapter                1    14,99     14,99
Incl. Thuiskopieheffing            1              4,24
Mario Kart 7 3DS                   1    44,99     44,99
Excl. BTW 386,00                          Subtotaal 463,22
BTW 21% 77,22                             Totaal    463,22
"""

ITEMS = [{"description": "Apple iPad Air Wifi 16 GB", "quantity": 1, "unit_price": 399.0, "amount": 399.0},
         {"description": "Nintendo AC-adapter", "quantity": 1, "unit_price": 14.99, "amount": 14.99},
         {"description": "Incl. Thuiskopieheffing", "quantity": 1, "amount": 4.24},
         {"description": "Mario Kart 7 3DS", "quantity": 1, "unit_price": 44.99, "amount": 44.99}]


def _items(**changes: float) -> dict:
    items = [dict(it) for it in ITEMS]
    for i, amount in changes.items():
        items[int(i[1:])]["amount"] = amount
    return {"line_items": items, "subtotal": 386.0, "tax_total": 77.22, "total": 463.22}


def test_line_amount_from_another_lines_row_is_flagged():
    assert _swaps(_items(), TABLE) == set()
    assert _swaps(_items(i2=14.99), TABLE) == {"line_items[2].amount"}
    assert _swaps(_items(i2=44.99), TABLE) == {"line_items[2].amount"}


def test_line_amount_from_the_totals_is_flagged():
    v = verify(_items(i2=463.22), TABLE, layout=layout_from_text(TABLE))
    msgs = [w.message for w in v.warnings if w.code == "field_swap" and w.field == "line_items[2].amount"]
    assert len(msgs) == 1 and "a total taken for the line amount" in msgs[0], v.to_dict()


def test_two_lines_with_the_same_amount_are_not_doubted():
    doc = TABLE.replace("14,99     14,99", "44,99     44,99")
    rec = _items(i1=44.99)
    rec["line_items"][1]["unit_price"] = 44.99
    assert _swaps(rec, doc) == set()


def test_single_line_amount_printed_only_as_the_subtotal_is_not_doubted():
    doc = "Item                Qty   Price\nConsulting days       3   250.00\nSubtotal          750.00\n"
    rec = {"line_items": [{"description": "Consulting days", "quantity": 3, "unit_price": 250.0,
                           "amount": 750.0}], "subtotal": 750.0}
    assert _swaps(rec, doc) == set()


def test_netto_and_brutto_columns_are_subtotal_and_total():
    doc = "Faktura VAT nr 12/2024\nNetto        VAT 23%      Brutto\n100,00         23,00      123,00\n"
    assert _swaps({"subtotal": 100.0, "tax_total": 23.0, "total": 123.0}, doc) == set()
    assert _swaps({"subtotal": 100.0, "tax_total": 23.0, "total": 100.0}, doc) >= {"total"}
