"""Where results go: JSON Lines, CSV or Parquet files (line items flattened), written as each result is done."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, TextIO

from .errors import InputError

__all__ = ["ResultWriter", "flatten"]


def flatten(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One CSV row per line item, document fields repeated; a document without items is one row."""
    data = result.get("data") or {}
    head = {"source": result.get("source"), "status": result.get("status"), "error": result.get("error"),
            "warnings": "; ".join(f"{w['field']}: {w['message']}" for w in result.get("warnings") or [])}
    scalars = {k: v for k, v in data.items() if not isinstance(v, (list, dict))}
    lists = {k: v for k, v in data.items() if isinstance(v, list) and v and all(isinstance(i, dict) for i in v)}
    items_key = "line_items" if "line_items" in lists else "items" if "items" in lists else next(iter(lists), None)
    for k, v in data.items():
        if isinstance(v, (list, dict)) and k != items_key:
            scalars[k] = json.dumps(v, ensure_ascii=False)
    base = {**head, **scalars}
    if not items_key:
        return [base]
    return [{**base, **{f"item_{k}": v for k, v in item.items()}} for item in lists[items_key]]


class ResultWriter:
    """Appends each finished result at once, so a crash later in the batch loses nothing already written."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self._fh: TextIO | None = None
        self._rows: list[dict[str, Any]] = []
        suffix = self.path.suffix.lower() if self.path else ""
        if self.path and suffix not in (".jsonl", ".csv", ".json", ".parquet"):
            raise InputError(f"{path}: choose an output ending in .jsonl, .csv or .parquet")
        if suffix == ".parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise InputError(f"{path}: writing Parquet needs pyarrow; `pip install pyarrow`, or use .jsonl") from None

    def write(self, result: dict[str, Any]) -> None:
        if self.path is None:
            return
        if self.path.suffix.lower() in (".jsonl", ".json"):
            if self._fh is None:
                self._fh = self.path.open("w", encoding="utf-8")
            self._fh.write(json.dumps(result, ensure_ascii=False) + "\n")
            self._fh.flush()
        else:
            self._rows.extend(flatten(result))
            # Columns can grow with each document, so the file is rewritten whole (atomically) each time.
            if self.path.suffix.lower() == ".parquet":
                self._write_parquet()
            else:
                self._write_csv()

    def _write_csv(self) -> None:
        columns: list[str] = []
        for row in self._rows:
            columns.extend(k for k in row if k not in columns)
        assert self.path is not None
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=columns)
            w.writeheader()
            w.writerows(self._rows)
        tmp.replace(self.path)

    def _write_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns: list[str] = []
        for row in self._rows:
            columns.extend(k for k in row if k not in columns)
        # One type per column: values that differ in type across rows are kept as their JSON text.
        table = {}
        for col in columns:
            values = [row.get(col) for row in self._rows]
            kinds = {type(v) for v in values if v is not None}
            if len(kinds) > 1 and not kinds <= {int, float}:
                values = [None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values]
            table[col] = values
        assert self.path is not None
        tmp = self.path.with_suffix(".parquet.tmp")
        pq.write_table(pa.table(table), tmp)
        tmp.replace(self.path)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
