"""Screenshots: what is on the screen, its error text word for word, the likely cause and the fix.

The post-check holds the model to "verbatim": each error message it copied must be found in the screenshot's
own text (classic OCR), allowing for OCR's small slips; one that is not is flagged, never silently kept.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["check_screen", "render_screen", "MATCH"]

MATCH = 85.0  # rapidfuzz partial_ratio: above OCR's usual slips (l/1, rn/m), below a reworded message


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def check_screen(data: dict[str, Any], screen_text: str | None, checked_with: str | None) -> dict[str, Any]:
    """The finished record's checks: each `error_text` entry found on the screen, or a warning on it."""
    from rapidfuzz import fuzz

    warnings: list[dict[str, str]] = []
    messages = [m for m in data.get("error_text") or [] if isinstance(m, str) and m.strip()]
    if screen_text is None:
        note = "error text not checked: no classic OCR engine is installed (pip install 'oculo[ocr]')"
        return {"warnings": warnings, "status": "ok", "checked_with": None, "note": note if messages else None}
    haystack = _norm(screen_text)
    for i, message in enumerate(messages):
        score = fuzz.partial_ratio(_norm(message), haystack) if haystack else 0.0
        if score < MATCH:
            warnings.append({"field": f"error_text[{i}]",
                             "message": f"not found on the screen as written ({score:.0f}% match with "
                                        f"{checked_with}); the model may have reworded or invented it"})
    return {"warnings": warnings, "status": "warnings" if warnings else "ok", "checked_with": checked_with}


def render_screen(record: dict[str, Any]) -> str:
    """The record for a person: the reading (or bug report) as short labelled paragraphs, then any warnings."""
    data = record.get("data") or {}
    lines: list[str] = []
    for key, value in data.items():
        label = key.replace("_", " ").capitalize()
        if isinstance(value, list):
            value = [v for v in value if str(v).strip()]
            if value:
                lines.append(f"{label}{' (verbatim)' if key == 'error_text' else ''}:")
                lines += [f"  {n}. {v}" if key == "steps_to_reproduce" else f"  > {v}"
                          for n, v in enumerate(value, 1)]
        elif value not in (None, ""):
            lines.append(f"{label}: {value}")
    for w in record.get("warnings") or []:
        lines.append(f"warning: {w['field']}: {w['message']}")
    if record.get("note"):
        lines.append(f"note: {record['note']}")
    return "\n".join(lines)
