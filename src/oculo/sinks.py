"""Where results go: JSON Lines, CSV or Parquet files (line items flattened), written as each result is done."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path
from typing import Any, TextIO

from .errors import InputError

__all__ = ["ResultWriter", "flatten", "strict_json"]


def strict_json(record: dict[str, Any]) -> dict[str, Any]:
    """The record with every non-finite number (NaN, Infinity) made null and named in a warning.

    Python's json writes those as bare `NaN`/`Infinity`, which no strict JSON reader accepts; a model can produce
    them (`1e999` parses to infinity), so every record is cleaned before it is printed or written.
    """
    found: list[str] = []

    def clean(v: Any, path: str) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            found.append(path or "(record)")
            return None
        if isinstance(v, dict):
            return {k: clean(x, f"{path}.{k}" if path else str(k)) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x, f"{path}[{i}]") for i, x in enumerate(v)]
        return v

    out = clean(record, "")
    if not found:
        return record
    warnings = list(out.get("warnings") or []) if isinstance(out.get("warnings"), list) else []
    warnings += [{"field": f, "code": "not_finite", "message": "not a finite number; written as null"}
                 for f in found]
    out["warnings"] = warnings
    if out.get("status") == "ok":
        out["status"] = "warnings"
    return out


def dumps(record: dict[str, Any], **kw: Any) -> str:
    """Strict JSON text of a record (see `strict_json`): never NaN or Infinity."""
    return json.dumps(strict_json(record), ensure_ascii=False, allow_nan=False, default=str, **kw)


def flatten(result: dict[str, Any]) -> list[dict[str, Any]]:
    """CSV rows for one result: its own fields, then the extracted fields, one row per line item.

    Any record works (a description, an extraction, a stored job item): nested values stay JSON in one cell,
    and a list of objects in `data` (line items) repeats the other fields on each of its rows.
    """
    head: dict[str, Any] = {}
    for k, v in result.items():
        if k == "data":
            continue
        if k == "warnings" and isinstance(v, list):
            head[k] = "; ".join(f"{w.get('field')}: {w.get('message')}" if isinstance(w, dict) else str(w)
                                for w in v)
        else:
            head[k] = _cell(v)
    data = result.get("data")
    if not isinstance(data, dict):
        return [head if data is None else {**head, "data": _cell(data)}]
    lists = {k: v for k, v in data.items() if isinstance(v, list) and v and all(isinstance(i, dict) for i in v)}
    items_key = "line_items" if "line_items" in lists else "items" if "items" in lists else next(iter(lists), None)
    base = {**head, **{k: _cell(v) for k, v in data.items() if k != items_key}}
    if not items_key:
        return [base]
    return [{**base, **{f"item_{k}": _cell(v) for k, v in item.items()}} for item in lists[items_key]]


def _cell(v: Any) -> Any:
    # Deeper structure stays JSON in one cell: a spreadsheet cannot show it better, and it round-trips.
    return json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v


class ResultWriter:
    """Writes each finished result as it comes, so a crash later in the batch loses nothing already written.

    JSON Lines and CSV append; CSV is rewritten whole only when a result brings a new column. Parquet cannot
    append, so it is rewritten at most as often as keeps that cost near a tenth of the run, and at close.
    """

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self.suffix = self.path.suffix.lower() if self.path else ""
        self._fh: TextIO | None = None
        self._csv: Any = None
        self._rows: list[dict[str, Any]] = []
        self._columns: list[str] = []
        self._dirty = False
        self._next_write = 0.0
        if self.path and self.suffix not in (".jsonl", ".csv", ".json", ".parquet"):
            raise InputError(f"{path}: choose an output ending in .jsonl, .csv or .parquet")
        if self.suffix == ".parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise InputError(
                    f"{path}: writing Parquet needs pyarrow; `pip install pyarrow`, or use .jsonl") from None

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def write(self, result: dict[str, Any]) -> None:
        if self.path is None:
            return
        if self.suffix in (".jsonl", ".json"):
            if self._fh is None:
                self._fh = self.path.open("w", encoding="utf-8")
            self._fh.write(dumps(result) + "\n")
            self._fh.flush()
            return
        rows = flatten(strict_json(result))
        self._rows.extend(rows)
        new = [k for row in rows for k in row if k not in self._columns]
        self._columns.extend(dict.fromkeys(new))
        if self.suffix == ".csv":
            if new or self._csv is None:
                self._rewrite_csv()
            else:
                self._csv.writerows(rows)
                assert self._fh is not None
                self._fh.flush()
            return
        self._dirty = True
        if time.monotonic() >= self._next_write:
            self._write_parquet()

    def _rewrite_csv(self) -> None:
        assert self.path is not None
        if self._fh is not None:
            self._fh.close()
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=self._columns)
            w.writeheader()
            w.writerows(self._rows)
        tmp.replace(self.path)
        self._fh = self.path.open("a", newline="", encoding="utf-8")
        self._csv = csv.DictWriter(self._fh, fieldnames=self._columns)

    def _write_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        started = time.monotonic()
        # One type per column: values that differ in type across rows are kept as their JSON text.
        table = {}
        for col in self._columns:
            values = [row.get(col) for row in self._rows]
            kinds = {type(v) for v in values if v is not None}
            if len(kinds) > 1 and not kinds <= {int, float}:
                values = [None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values]
            table[col] = values
        assert self.path is not None
        tmp = self.path.with_suffix(".parquet.tmp")
        pq.write_table(pa.table(table), tmp)
        tmp.replace(self.path)
        self._dirty = False
        now = time.monotonic()
        self._next_write = now + 10 * (now - started)

    def close(self) -> None:
        if self._dirty:
            self._write_parquet()
        if self._fh is not None:
            self._fh.close()
            self._fh = None
