"""Result files: any record flattens to columns, CSV appends, Parquet lands whole at close."""

import csv
import json

import pyarrow.parquet as pq
import pytest

from oculo.errors import InputError
from oculo.sinks import ResultWriter, flatten

DESCRIPTION = {"source": "a.png", "model": "tiny", "engine": "transformers", "text": "a red square",
               "data": None, "finish_reason": "stop", "error": None,
               "stats": {"prompt_tokens": 10, "generated_tokens": 3}}
EXTRACTION = {"source": "inv.pdf", "status": "warnings", "error": None,
              "warnings": [{"field": "total", "message": "does not add up"}],
              "data": {"vendor": "ACME", "total": 12.5, "address": {"city": "Oslo"},
                       "line_items": [{"description": "bolt", "amount": 5}, {"description": "nut", "amount": 7.5}]}}


def test_flatten_keeps_a_description_text():
    [row] = flatten(DESCRIPTION)
    assert row["text"] == "a red square" and row["source"] == "a.png"
    assert json.loads(row["stats"]) == DESCRIPTION["stats"]


def test_flatten_repeats_document_fields_per_line_item():
    rows = flatten(EXTRACTION)
    assert [r["item_description"] for r in rows] == ["bolt", "nut"]
    assert all(r["vendor"] == "ACME" and r["total"] == 12.5 for r in rows)
    assert rows[0]["warnings"] == "total: does not add up"
    assert json.loads(rows[0]["address"]) == {"city": "Oslo"}


def test_csv_grows_columns_and_keeps_every_row(tmp_path):
    out = tmp_path / "r.csv"
    with ResultWriter(out) as w:
        for i in range(50):
            w.write({**DESCRIPTION, "source": f"{i}.png"})
        # visible on disk before close: a crash after this point keeps these rows
        assert len(list(csv.DictReader(out.open()))) == 50
        w.write(EXTRACTION)  # new columns: the file is rewritten with the wider header
        w.write({**DESCRIPTION, "source": "last.png"})
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 53
    assert rows[0]["text"] == "a red square" and rows[0]["vendor"] == ""
    assert rows[51]["item_description"] == "nut" and rows[52]["source"] == "last.png"


def test_parquet_written_at_close(tmp_path):
    out = tmp_path / "r.parquet"
    with ResultWriter(out) as w:
        for i in range(30):
            w.write({**DESCRIPTION, "source": f"{i}.png"})
        w.write(EXTRACTION)
    table = pq.read_table(out).to_pylist()
    assert len(table) == 32 and table[0]["text"] == "a red square" and table[-1]["item_amount"] == 7.5


def test_unknown_suffix_is_one_line(tmp_path):
    with pytest.raises(InputError, match=r"r\.txt: choose an output ending in \.jsonl, \.csv or \.parquet"):
        ResultWriter(tmp_path / "r.txt")
