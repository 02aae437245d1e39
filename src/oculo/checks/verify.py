"""verify(): an extraction and the document's own text in, a status and one warning per doubt out.

The extraction may come from oculo, another tool or a person, so it is read leniently: unknown keys are
ignored, numbers written as strings ("1.234,50", "$ 12.00") are parsed, and a malformed date is a warning,
not a refusal. Only data that cannot be read as the schema at all fails.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..schemas import BUILTIN
from .grounding import check_grounding, index_document
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

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "warnings": [w.to_dict() for w in self.warnings], "checked": self.checked}


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
    checked = len(dates)
    if text and text.strip():
        found, n = check_grounding(leaves, index_document(text))
        findings += found
        checked += n
    warnings = [Warning(*f) for f in findings]
    return Verification("warnings" if warnings else "ok", warnings, checked)


def verify(data: Any, text: str | None, *, schema: str = "invoice", today: date | None = None) -> Verification:
    """Check an extraction: arithmetic, grounding in `text` (skipped when None or blank), plausibility."""
    if schema not in BUILTIN:
        return _verify_any(data, text, today)
    model, layout = BUILTIN[schema], _LAYOUT[schema]
    if not isinstance(data, dict):
        return Verification("failed", [Warning("", "unreadable", f"expected a JSON object with the {schema} "
                                                                 f"fields, got {type(data).__name__}")])
    if not set(data) & set(model.model_fields):
        return Verification("failed", [Warning("", "unreadable", f"none of the {schema} fields is present "
                                                                 f"({', '.join(list(model.model_fields)[:4])}...)")])
    problems: list[Finding] = []
    try:
        rec = _read(data, model, "", problems)
    except _Unreadable as e:
        return Verification("failed", [Warning(e.path, "unreadable", str(e))])

    findings = list(problems)
    checked = 0
    for found, n in (
        check_arithmetic(rec, layout["lines"], layout["tax"], layout["extras"]),
        check_plausibility(rec, date_fields=layout["dates"], today=today,
                           credit_note=bool(text and _CREDIT_NOTE.search(text))),
        check_grounding(_flatten(rec, model, layout), index_document(text)) if text and text.strip()
        else ([], 0),
    ):
        findings += found
        checked += n
    warnings = [Warning(*f) for f in findings]
    return Verification("warnings" if warnings else "ok", warnings, checked)
