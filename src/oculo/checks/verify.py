"""verify(): an extraction and the document's own text in, a status and one warning per doubt out.

The extraction may come from oculo, another tool or a person, so it is read leniently: numbers written as
strings ("1.234,50", "$ 12.00") are parsed, a malformed date is a warning, not a refusal, and invoice2data's
ground-truth names (`oculo eval`'s input: issuer, amount, amount_untaxed, date, lines...) are mapped to the
invoice's. But nothing passes unchecked: a record of which no value could be checked fails, naming the keys
that are not fields of the schema, and a document without text says that grounding was impossible.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..schemas import BUILTIN
from ..schemas.truth import INVOICE2DATA, map_truth
from .grounding import check_grounding, index_document
from .layout import Layout, check_labels, check_line_rows, layout_from_text
from .numbers import Finding, check_arithmetic, parse_number
from .plausibility import check_plausibility

__all__ = ["Verification", "Warning", "verify"]

# Per schema: the list of lines, the tax field, what else adds to the total, dates, identifiers, times.
_LAYOUT: dict[str, dict[str, Any]] = {
    "invoice": {"lines": "line_items", "tax": "tax_total", "extras": (), "dates": ("issue_date", "due_date"),
                "ids": ("invoice_number", "vendor_tax_id"), "times": ()},
    "receipt": {"lines": "items", "tax": "tax", "extras": ("tip",), "dates": ("date",), "ids": (),
                "times": ("time",)},
}
_CREDIT_NOTE = re.compile(r"credit\s*note|gutschrift|creditnota|credit\s*nota|avoir|nota\s+korygująca|"
                          r"faktura\s+korygująca|refund|rückerstattung|remboursement", re.IGNORECASE)


class _Unreadable(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class Warning:
    field: str  # a JSON path: "line_items[2].amount"
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


@dataclass
class Verification:
    status: str  # ok | warnings | failed
    warnings: list[Warning] = field(default_factory=list)
    checked: int = 0  # how many values and rules were checked: the denominator for false-warning rates
    checks: dict[str, int] = field(default_factory=dict)  # checked, per check: arithmetic, grounding...
    found: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # path -> [{page, box}] where printed
    mapped_from: str | None = None  # "invoice2data" when ground truth in its names was mapped

    def to_dict(self) -> dict[str, Any]:
        out = {"status": self.status, "warnings": [w.to_dict() for w in self.warnings], "checked": self.checked,
               "checks": dict(self.checks)}
        if self.found:
            out["found"] = self.found
        if self.mapped_from:
            out["mapped_from"] = self.mapped_from
        return out

    def summary(self) -> str:
        """'5 checked: arithmetic 2, grounding 3, ...' for people."""
        parts = ", ".join(f"{k} {v}" for k, v in self.checks.items())
        return f"{self.checked} checked" + (f" ({parts})" if parts else "")


NO_TEXT = ("grounding impossible: the document has no text (no text layer, and OCR found none or is not "
           "installed), so no value was checked against it")
# invoice2data's ground-truth names (oculo eval's input) -> the invoice schema's; see tasks/evaluate.py.
_TRUTH_ONLY = {"issuer", "amount", "amount_untaxed", "amount_tax", "date", "date_due", "lines"}


def _kind(annotation: Any) -> tuple[str, Any]:
    """number | string | (list, item model) for a pydantic field's annotation."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _kind(args[0]) if len(args) == 1 else ("string", None)
    if origin is list:
        return "list", typing.get_args(annotation)[0]
    return ("number", None) if annotation is float else ("string", None)


def _read(data: dict[str, Any], model: Any, prefix: str, problems: list[Finding]) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        value = data.get(name)
        kind, item_model = _kind(info.annotation)
        path = f"{prefix}{name}"
        if value is None:
            rec[name] = [] if kind == "list" else None
        elif kind == "list":
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise _Unreadable(path, f"expected a list of objects, got {type(value).__name__}")
            rec[name] = [_read(v, item_model, f"{path}[{i}].", problems) for i, v in enumerate(value)]
        elif kind == "number":
            try:
                rec[name] = parse_number(value)
            except ValueError as e:
                problems.append((path, "unreadable", f"{e}; treated as missing"))
                rec[name] = None
        elif isinstance(value, (dict, list)):
            msg = f"expected text, got a {type(value).__name__}; treated as missing"
            problems.append((path, "unreadable", msg))
            rec[name] = None
        else:
            rec[name] = value.isoformat() if isinstance(value, date) else str(value).strip()
    return rec


def _flatten(rec: dict[str, Any], model: Any, layout: dict[str, Any], prefix: str = "") -> Iterator[tuple]:
    for name, info in model.model_fields.items():
        value = rec.get(name)
        kind, item_model = _kind(info.annotation)
        if kind == "list":
            for i, item in enumerate(value or []):
                yield from _flatten(item, item_model, layout, f"{prefix}{name}[{i}].")
        elif kind == "number":
            yield f"{prefix}{name}", "number", value
        elif not prefix and name in layout["dates"]:
            yield name, "date", value
        elif not prefix and name in layout["times"]:
            yield name, "time", value
        elif not prefix and name in layout["ids"]:
            yield name, "identifier", value


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """Every number and ISO date in a record of any shape, with its JSON path."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path, "number", float(value)
    elif isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        yield path, "date", value.strip()


def _nothing_checked(unknown: list[str], fields: list[str], schema: str) -> Verification:
    if not unknown:
        return Verification("warnings", [Warning("", "nothing_checked", "no value could be checked: no number, "
                                                                        "date or identifier to look at")])
    hints = []
    for k in unknown[:6]:
        near = difflib.get_close_matches(k, fields, n=1)
        hints.append(f"{k!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
    more = f" and {len(unknown) - 6} more" if len(unknown) > 6 else ""
    msg = (f"nothing could be checked: {', '.join(hints)}{more} {'is' if len(unknown) == 1 else 'are'} not "
           f"{schema} fields; use the {schema} field names ({', '.join(fields[:6])}...)")
    return Verification("failed", [Warning("", "unknown_fields", msg)])


def _verify_any(data: Any, text: str | None, today: date | None) -> Verification:
    """A user's own schema: no known arithmetic, but every number and date is grounded and dates checked."""
    from .plausibility import check_date

    if not isinstance(data, (dict, list)):
        return Verification("failed", [Warning("", "unreadable", "expected a JSON object or array")])
    leaves = list(_leaves(data))
    findings: list[Finding] = []
    today = today or date.today()
    dates = [(p, v) for p, k, v in leaves if k == "date"]
    for p, v in dates:
        check_date(p, v, today, findings)
    checks = {"plausibility": len(dates), "grounding": 0}
    if text and text.strip():
        found, checks["grounding"] = check_grounding(leaves, index_document(text))
        findings += found
    elif text is not None and leaves:
        findings.append(("", "not_grounded", NO_TEXT))
    warnings = [Warning(*f) for f in findings]
    checked = sum(checks.values())
    if not checked and not warnings:
        return Verification("warnings", [Warning("", "nothing_checked", "no number or date to check")], 0, checks)
    return Verification("warnings" if warnings else "ok", warnings, checked, checks)


def _from_truth(data: dict[str, Any]) -> dict[str, Any]:
    lines = dict(INVOICE2DATA["line_items"]["fields"], discount="discount")
    mapping = {**INVOICE2DATA, "due_date": "date_due", "vendor_tax_id": "vat",
               "line_items": {"from": "lines", "fields": lines}}
    rec = map_truth(data, mapping)
    if "line_items" in rec:  # section headers and notes are not billed lines
        rec["line_items"] = [i for i in rec["line_items"] if any(v is not None for v in i.values())]
    return rec


def verify(data: Any, text: str | None, *, schema: str = "invoice", today: date | None = None,
           layout: Layout | None = None) -> Verification:
    """Check an extraction: arithmetic, grounding in `text`, the labels beside grounded values, plausibility.

    `text` None means no document was given: grounding is not attempted. Blank text is a document without
    text, reported as a warning. `layout` (words with boxes, see checks.layout) defaults to one read from
    `text`, which locates values by page only.
    """
    if schema not in BUILTIN:
        return _verify_any(data, text, today)
    model, layout_rules = BUILTIN[schema], _LAYOUT[schema]
    if not isinstance(data, dict):
        return Verification("failed", [Warning("", "unreadable", f"expected a JSON object with the {schema} "
                                                                 f"fields, got {type(data).__name__}")])
    fields = list(model.model_fields)
    mapped_from = None
    if schema == "invoice" and set(data) & _TRUTH_ONLY and not set(data) & {"total", "subtotal", "vendor",
                                                                            "issue_date", "line_items"}:
        data, mapped_from = _from_truth(data), "invoice2data"
    unknown = [str(k) for k in data if k not in model.model_fields]
    if not set(data) & set(fields):
        return _nothing_checked(unknown, fields, schema)
    problems: list[Finding] = []
    try:
        rec = _read(data, model, "", problems)
    except _Unreadable as e:
        return Verification("failed", [Warning(e.path, "unreadable", str(e))])

    findings = list(problems)
    checks: dict[str, int] = {}
    found_at: dict[str, list[dict[str, Any]]] = {}
    for name, (found, n) in (
        ("arithmetic", check_arithmetic(rec, layout_rules["lines"], layout_rules["tax"], layout_rules["extras"])),
        ("plausibility", check_plausibility(rec, date_fields=layout_rules["dates"], today=today,
                                            credit_note=bool(text and _CREDIT_NOTE.search(text)))),
    ):
        findings += found
        checks[name] = n
    values = list(_flatten(rec, model, layout_rules))
    if text and text.strip():
        found, checks["grounding"] = check_grounding(values, index_document(text))
        findings += found
        doubted = {f[0] for f in found}
        layout = layout or layout_from_text(text)
        swaps, checks["labels"], found_at = check_labels([v for v in values if v[0] not in doubted], layout)
        findings += swaps
        lines_key = layout_rules["lines"]
        items = [(f"{lines_key}[{i}].amount", it.get("description"), it.get("amount"))
                 for i, it in enumerate(rec.get(lines_key) or [])]
        swaps, n = check_line_rows([it for it in items if it[0] not in doubted], layout)
        findings += swaps
        checks["labels"] += n
    elif text is not None:
        checks["grounding"] = 0
        if any(v not in (None, "") for _, _, v in values):
            findings.append(("", "not_grounded", NO_TEXT))
    warnings = [Warning(*f) for f in findings]
    checked = sum(checks.values())
    if not checked and not warnings:
        v = _nothing_checked(unknown, fields, schema)
        v.checks, v.mapped_from = checks, mapped_from
        return v
    return Verification("warnings" if warnings else "ok", warnings, checked, checks, found_at, mapped_from)
