"""Charts: type, axes, series and trend, and a data table that never passes an estimate off as printed.

A model says for each value whether it is printed on the chart; the post-check believes it only when the
number is in the chart's own text (classic OCR), flags values outside the axis range, and every result says
that values read off a continuous chart are estimates.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ESTIMATE_NOTE", "check_chart", "render_chart"]

ESTIMATE_NOTE = ("Values marked ~ were read off the chart by position and are estimates: precise values from "
                 "continuous charts (lines, areas, scatter, unlabelled bars) are unreliable. Only values printed "
                 "on the chart are copied.")


def check_chart(data: dict[str, Any], chart_text: str | None, checked_with: str | None) -> dict[str, Any]:
    """The data table with an `estimate` flag per value, and warnings for doubtful values."""
    from ..checks.grounding import index_document

    index = index_document(chart_text) if chart_text else None
    warnings: list[dict[str, str]] = []
    table: list[dict[str, Any]] = []
    y_axis = data.get("y_axis") or {}
    low, high = y_axis.get("min"), y_axis.get("max")
    if low is not None and high is not None and low > high:
        low, high = high, low
    for s, series in enumerate(data.get("series") or []):
        for p, point in enumerate(series.get("points") or []):
            field = f"series[{s}].points[{p}]"
            y = point.get("y")
            printed = bool(point.get("printed"))
            if printed and y is not None and index is not None and not index.has_number(y):
                printed = False
                warnings.append({"field": field, "message": f"{y:g} is marked as printed but is not in the "
                                                            f"chart's text ({checked_with}); kept as an estimate"})
            elif printed and index is None:
                printed = False  # unconfirmed: without the chart's text, nothing is known to be printed
            if y is not None and low is not None and high is not None and not low <= y <= high:
                warnings.append({"field": field, "message": f"{y:g} is outside the y axis range "
                                                            f"{low:g} to {high:g}"})
            table.append({"series": series.get("name"), "x": point.get("x"), "y": y, "estimate": not printed})
    warnings += _shares(data)
    out: dict[str, Any] = {"table": table, "warnings": warnings, "status": "warnings" if warnings else "ok",
                           "checked_with": checked_with, "note": ESTIMATE_NOTE}
    return out


def _shares(data: dict[str, Any]) -> list[dict[str, str]]:
    """A pie or donut in percent shows shares of one whole: its slices add up to 100, give or take rounding."""
    if data.get("chart_type") not in ("pie", "donut"):
        return []
    out = []
    for s, series in enumerate(data.get("series") or []):
        values = [p.get("y") for p in series.get("points") or [] if p.get("y") is not None]
        total = sum(values)
        # Percent when the axis says so or the slices look like it; raw counts in a pie have no fixed sum.
        in_percent = ((data.get("y_axis") or {}).get("unit") or "").strip() == "%" or 90 <= total <= 110
        if len(values) >= 2 and in_percent and abs(total - 100) > 0.5 * len(values):
            out.append({"field": f"series[{s}]", "message": f"the slices add up to {total:g}%, not 100%"})
    return out


def render_chart(record: dict[str, Any]) -> str:
    """Markdown: what the chart is, its axes and trend, then the table with estimates marked ~."""
    data = record.get("data") or {}
    lines = [f"**{data.get('title') or 'Untitled chart'}** ({data.get('chart_type', 'chart')})"]
    for name in ("x_axis", "y_axis"):
        axis = data.get(name) or {}
        if any(axis.get(k) is not None for k in ("label", "unit", "min", "max")):
            span = (f", {axis['min']:g} to {axis['max']:g}" if axis.get("min") is not None
                    and axis.get("max") is not None else "")
            unit = f" ({axis['unit']})" if axis.get("unit") else ""
            lines.append(f"- {name.replace('_', ' ')}: {axis.get('label') or '-'}{unit}{span}")
    if data.get("trend"):
        lines.append(f"- trend: {data['trend']}")
    table = record.get("table") or []
    if table:
        lines += ["", "| series | x | y |", "|---|---|---|"]
        for row in table:
            y = "" if row["y"] is None else f"{'~' if row['estimate'] else ''}{row['y']:g}"
            lines.append(f"| {_cell(row['series'])} | {_cell(row['x'])} | {y} |")
    for w in record.get("warnings") or []:
        lines.append(f"warning: {w['field']}: {w['message']}")
    lines += ["", f"_{record.get('note') or ESTIMATE_NOTE}_"]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")
