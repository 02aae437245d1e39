"""Built-in schemas and resolve_schema: every form it accepts, and one clear line for every bad input."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from oculo.errors import InputError
from oculo.schemas import BUILTIN, Invoice, Receipt, resolve_schema


@pytest.mark.parametrize("name", ["invoice", "receipt", "Invoice"])
def test_builtin_names(name):
    schema, cls, resolved = resolve_schema(name)
    assert cls is BUILTIN[name.lower()] and resolved == name.lower()
    Draft202012Validator.check_schema(schema)


def test_invoice_schema_is_grammar_friendly():
    schema = Invoice.model_json_schema()
    Draft202012Validator.check_schema(schema)
    # every key present (nullable) and nothing else: a constrained decoder then writes each field once
    assert set(schema["required"]) == set(schema["properties"]) and schema["additionalProperties"] is False
    line = schema["$defs"]["LineItem"]
    assert set(line["required"]) == set(line["properties"])
    text = json.dumps(schema)
    assert '"format"' not in text and "minimum" not in text
    date_branch = schema["properties"]["issue_date"]["anyOf"][0]
    assert date_branch["pattern"] == "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
    assert schema["properties"]["currency"]["anyOf"][0]["pattern"] == "^[A-Z]{3}$"
    assert "description" in schema["properties"]["total"]
    # a record the schema allows is one pydantic accepts
    record = {k: None for k in schema["properties"]} | {"line_items": [], "tax_lines": [], "total": 12.5}
    Draft202012Validator(schema).validate(record)
    assert Invoice.model_validate(record).total == 12.5


def test_invoice_validation_dates_numbers_and_extras():
    inv = Invoice.model_validate({"issue_date": "2014-08-03", "total": "1.234,50", "currency": "eur",
                                  "line_items": [{"amount": "$ 3.50", "tax_rate": "21%"}], "unknown": 1})
    assert inv.issue_date == "2014-08-03" and inv.total == 1234.5 and inv.currency == "EUR"
    assert inv.line_items[0].amount == 3.5 and inv.line_items[0].tax_rate == 21
    assert Invoice.model_validate({"issue_date": "2014-08-03T10:00:00"}).issue_date == "2014-08-03"
    for bad in ({"issue_date": "2023-02-30"}, {"issue_date": "03/08/2014"}, {"due_date": "2014-13-01"},
                {"currency": "EURO"}, {"total": "lots"}, {"line_items": [{"tax_rate": 121}]}):
        with pytest.raises(ValidationError):
            Invoice.model_validate(bad)
    assert Receipt.model_validate({"date": "2024-02-29", "time": "14:05", "tip": "2,00"}).tip == 2.0
    with pytest.raises(ValidationError):
        Receipt.model_validate({"date": "2023-02-29"})


def test_json_schema_file(tmp_path):
    path = tmp_path / "form.schema.json"
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    path.write_text(json.dumps(schema))
    assert resolve_schema(str(path)) == (schema, None, "form")


def test_pydantic_class_from_cwd(tmp_path, monkeypatch):
    (tmp_path / "myforms_oculo_test.py").write_text(
        "from pydantic import BaseModel\nclass Form(BaseModel):\n    name: str\nNOT_A_MODEL = 3\n")
    monkeypatch.chdir(tmp_path)
    schema, cls, name = resolve_schema("myforms_oculo_test:Form")
    assert name == "Form" and cls.__name__ == "Form" and schema["required"] == ["name"]
    import sys

    assert str(tmp_path) not in sys.path  # the current directory is added only while importing
    with pytest.raises(InputError, match="not a pydantic model"):
        resolve_schema("myforms_oculo_test:NOT_A_MODEL")
    with pytest.raises(InputError, match="has no Missing"):
        resolve_schema("myforms_oculo_test:Missing")


def _one_line_error(spec: str, match: str) -> str:
    with pytest.raises(InputError, match=match) as e:
        resolve_schema(spec)
    msg = str(e.value)
    assert "\n" not in msg and spec in msg
    return msg


def test_bad_inputs_are_one_line(tmp_path):
    _one_line_error(str(tmp_path / "missing.json"), "no such schema file")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    _one_line_error(str(bad), "not valid JSON")
    arr = tmp_path / "array.json"
    arr.write_text("[1, 2]")
    _one_line_error(str(arr), "JSON Schema is a JSON object")
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"type": "object", "properties": {"a": {"type": "strnig"}}}))
    _one_line_error(str(invalid), "not a valid JSON Schema")
    _one_line_error("no_such_module_oculo_xyz:Model", "cannot import module")
    _one_line_error("invoices", "not a known schema")
    _one_line_error("json:", "expected module:Class")
