"""Reading numbers as people and models write them ("1.234,50", "$ 1,234.50", "(12.00)").

The schemas coerce amounts with it and the checks compare amounts with it; it lives here, below both,
so that schemas need nothing from checks.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

__all__ = ["parse_number", "readings"]

_SEP = re.compile(r"([.,'’])")
_NULLS = {"", "-", "—", "–", "n/a", "na", "none", "null", "nil"}

def readings(atom: str) -> list[Decimal]:
    """Every value a printed number without spaces can mean, the likelier first.

    '1.234,50' and '1,234.50' are 1234.50; '1.234' is 1.234 or 1234 (both kept: the document alone cannot
    tell); '1,5' is 1.5; "1'234.50" is Swiss. An atom that no convention reads gives nothing.
    """
    parts = _SEP.split(atom)
    groups, seps = parts[0::2], parts[1::2]
    if not all(g.isdigit() for g in groups):
        return []
    if not seps:
        return [Decimal(atom)]
    first_ok = len(groups[0]) <= 3 and not (groups[0].startswith("0") and len(groups[0]) > 1)
    thousands = first_ok and all(len(g) == 3 for g in groups[1:])
    if len(set(seps)) == 1:
        s = seps[0]
        if len(seps) > 1 or s in "'’":
            return [Decimal("".join(groups))] if thousands else []
        decimal = Decimal(groups[0] + "." + groups[1])
        if not thousands or groups[0] == "0":
            return [decimal]
        whole = Decimal(groups[0] + groups[1])
        # A JSON-ish '1.250' is more often a decimal, a lone ',' before three digits a thousands separator.
        return [decimal, whole] if s == "." else [whole, decimal]
    dec, th = seps[-1], seps[:-1]
    if dec in "'’" or len(set(th)) != 1 or th[0] == dec:
        return []
    if not (first_ok and all(len(g) == 3 for g in groups[1:-1])):
        return []
    return [Decimal("".join(groups[:-1]) + "." + groups[-1])]


def parse_number(value: Any) -> float | None:
    """A number as people and models write it: 1234.5, "1.234,50", "$ 1,234.50", "(12.00)", "21%"; None if blank."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, (int, float, Decimal)):
        f = float(value)
        if not math.isfinite(f):
            raise ValueError(f"{value!r} is not a finite number")
        return f
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a number")
    s = value.strip()
    if s.lower() in _NULLS:
        return None
    negative = s.startswith(("-", "−")) or s.endswith(("-", "−")) or (s.startswith("(") and s.endswith(")"))
    core = re.sub(r"[\s\u00a0\u202f]", "", s)  # '1 234,50': spaces group thousands
    core = re.sub(r"^[^\d.,]+|[^\d.,]+$", "", core)  # currency symbols and codes, %, signs
    if re.search(r"[^\d.,'’]", core) or not re.search(r"\d", core):
        raise ValueError(f"{value!r} is not a number")
    if core.startswith((".", ",")):
        core = "0" + core
    found = readings(core)
    if not found:
        raise ValueError(f"{value!r} is not a number")
    return -float(found[0]) if negative else float(found[0])
