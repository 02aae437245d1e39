"""Grounding: every extracted number, date and identifier must be printed in the document itself.

The document's text is read once into an index (every number in every plausible reading, as Decimal; every
date in every written form, as ISO; identifiers with whitespace removed) and values are looked up in it.
A model that invents, misreads or recomputes a value then shows up as `not_grounded`, whatever the format
it was printed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from .numbers import Finding, readings, to_decimal

__all__ = ["MONTHS", "TINY", "DocumentIndex", "check_grounding", "date_matches", "index_document", "number_matches"]

# Integers below this are printed all over any document (quantities of 1, days, page numbers, '2 of 3'):
# finding one proves nothing, so they are neither grounded nor counted as checked.
TINY = 10

_MONTH_NAMES = {
    1: "january jan januari janvier janv januar jänner stycznia styczeń styczen sty",
    2: "february feb februari février fevrier févr fevr februar lutego luty lut",
    3: "march mar maart mrt mars märz maerz marca marzec",
    4: "april apr avril avr kwietnia kwiecień kwiecien kwi",
    5: "may mei mai maja maj",
    6: "june jun juni juin czerwca czerwiec cze",
    7: "july jul juli juillet juil lipca lipiec lip",
    8: "august aug augustus août aout sierpnia sierpień sierpien sie",
    9: "september sep sept septembre września wrzesnia wrzesień wrzesien wrz",
    10: "october oct oktober okt octobre października pazdziernika październik pazdziernik paź paz",
    11: "november nov novembre listopada listopad lis",
    12: "december dec dez decembre décembre dezember déc grudnia grudzień grudzien gru",
}
MONTHS = {name.rstrip("."): m for m, names in _MONTH_NAMES.items() for name in names.split()}
_MONTH = "|".join(sorted(map(re.escape, MONTHS), key=len, reverse=True))
_NOT_LETTER_BEFORE, _NOT_LETTER_AFTER = r"(?<![^\W\d_])", r"(?![^\W\d_])"
_D_MONTH_Y = re.compile(rf"(?<!\d)(\d{{1,2}})(?:st|nd|rd|th|er|e)?\.?\s*(?:de\s+)?{_NOT_LETTER_BEFORE}"
                        rf"({_MONTH}){_NOT_LETTER_AFTER}\.?,?\s*(?:de\s+)?(\d{{4}})(?!\d)", re.IGNORECASE)
_MONTH_D_Y = re.compile(rf"{_NOT_LETTER_BEFORE}({_MONTH}){_NOT_LETTER_AFTER}\.?\s*(\d{{1,2}})(?:st|nd|rd|th)?"
                        rf"\s*,?\s*(\d{{4}})(?!\d)", re.IGNORECASE)
_Y_M_D = re.compile(r"(?<!\d)(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?!\d)")
_NUMERIC = re.compile(r"(?<!\d)(?<!\d[./])(\d{1,2})([-/.])(\d{1,2})\2(\d{4}|\d{2})(?![\d])")
_TIME = re.compile(r"(?<![\d:])([01]?\d|2[0-3])[:h](\d{2})(?::(\d{2}))?(?![\d:])")
# Digits with the separators a number may carry, spaces included ('1 234,50'); split and rejoined below.
_NUMBER_RUN = re.compile(r"\d+(?:(?:[.,'’]|[ \u00a0\u202f\u2009])\d+)*")
_THOUSANDS_TAIL = re.compile(r"\d{3}(?:[.,]\d+)?")


def _iso(y: int, m: int, d: int) -> str | None:
    try:
        return date(y, m, d).isoformat()
    except ValueError:
        return None


def date_matches(text: str, convention: tuple[bool, bool] | None = None
                 ) -> tuple[list[tuple[int, int, str]], tuple[bool, bool]]:
    """(start, end, ISO date) for every date in every reading, and the (day first, month first) evidence.

    `convention` passes a whole document's evidence when `text` is one line of it.
    """
    found: list[tuple[int, int, str]] = []
    for m in _D_MONTH_Y.finditer(text):
        found.append((m.start(), m.end(), _iso(int(m[3]), MONTHS[m[2].lower()], int(m[1])) or ""))
    for m in _MONTH_D_Y.finditer(text):
        found.append((m.start(), m.end(), _iso(int(m[3]), MONTHS[m[1].lower()], int(m[2])) or ""))
    for m in _Y_M_D.finditer(text):
        found.append((m.start(), m.end(), _iso(int(m[1]), int(m[3]), int(m[4])) or ""))
    numeric = []
    for m in _NUMERIC.finditer(text):
        y = int(m[4]) if len(m[4]) == 4 else (2000 + int(m[4]) if int(m[4]) < 70 else 1900 + int(m[4]))
        numeric.append((m.start(), m.end(), int(m[1]), int(m[3]), y))
    # One document follows one convention: a 22-9-2022 elsewhere settles that 8-9-2022 is 8 September.
    if convention is None:
        convention = (any(a > 12 >= b for _, _, a, b, _ in numeric), any(b > 12 >= a for _, _, a, b, _ in numeric))
    day_first, month_first = convention
    for s, e, a, b, y in numeric:
        if not month_first or day_first:
            found.append((s, e, _iso(y, b, a) or ""))
        if not day_first or month_first:
            found.append((s, e, _iso(y, a, b) or ""))
    return [f for f in found if f[2]], convention


def _dates(text: str) -> set[str]:
    return {iso for _, _, iso in date_matches(text)[0]}


def number_matches(text: str) -> list[tuple[int, int, Decimal]]:
    """(start, end, value) for every reading of every printed number, sign dropped."""
    found: list[tuple[int, int, Decimal]] = []
    for run in _NUMBER_RUN.finditer(text):
        atoms = [(m.start() + run.start(), m.group()) for m in re.finditer(r"\S+", run.group())]
        for i, (start, atom) in enumerate(atoms):
            found += [(start, start + len(atom), d) for d in readings(atom)]
            # '1 234 567,89': space-grouped thousands, only when the following groups have three digits.
            if atom.isdigit() and len(atom) <= 3:
                joined, j = atom, i + 1
                while j < len(atoms) and _THOUSANDS_TAIL.fullmatch(atoms[j][1]):
                    joined += atoms[j][1]
                    end = atoms[j][0] + len(atoms[j][1])
                    found += [(start, end, d) for d in readings(joined)]
                    if not atoms[j][1].isdigit():
                        break
                    j += 1
    return [(s, e, abs(d).normalize()) for s, e, d in found]


def _numbers(text: str) -> set[Decimal]:
    return {d for _, _, d in number_matches(text)}


def _compact(text: str, keep: Any) -> tuple[str, list[bool]]:
    """Text without the characters `keep` rejects, lower-cased, and where something was removed."""
    chars: list[str] = []
    gaps: list[bool] = []
    gap = True
    for ch in text:
        if not keep(ch):
            gap = True
            continue
        low = ch.lower()
        chars.append(low if len(low) == 1 else ch)
        gaps.append(gap)
        gap = False
    gaps.append(True)
    return "".join(chars), gaps


def _kind(ch: str) -> int:
    return 1 if ch.isdigit() else 2 if ch.isalpha() else 0


@dataclass(frozen=True)
class DocumentIndex:
    numbers: frozenset[Decimal]
    dates: frozenset[str]
    times: frozenset[str]
    _spaced: tuple[str, list[bool]]
    _alnum: tuple[str, list[bool]]

    def has_number(self, value: float) -> bool:
        return abs(to_decimal(value)) in self.numbers

    def has_date(self, iso: str) -> bool:
        return iso in self.dates

    def has_time(self, hhmm: str) -> bool:
        return hhmm in self.times or hhmm[:5] in self.times

    def has_identifier(self, value: str) -> bool:
        """Printed, ignoring whitespace (and then punctuation: '774-00-01-454' is 7740001454).

        A match must not cut through a word or number: '2183017' is not grounded by '42183017'.
        """
        for (hay, gaps), keep in ((self._spaced, _not_space), (self._alnum, str.isalnum)):
            needle, _ = _compact(value, keep)
            if needle and _bounded_find(hay, gaps, needle):
                return True
        return False


def _not_space(ch: str) -> bool:
    return not ch.isspace()


def _bounded_find(hay: str, gaps: list[bool], needle: str) -> bool:
    start = hay.find(needle)
    while start >= 0:
        end = start + len(needle)
        left = start == 0 or gaps[start] or _kind(hay[start - 1]) != _kind(needle[0]) or not _kind(needle[0])
        right = end == len(hay) or gaps[end] or _kind(hay[end]) != _kind(needle[-1]) or not _kind(needle[-1])
        if left and right:
            return True
        start = hay.find(needle, start + 1)
    return False


@lru_cache(maxsize=64)
def index_document(text: str) -> DocumentIndex:
    times = set()
    for m in _TIME.finditer(text):
        hhmm = f"{int(m[1]):02d}:{m[2]}"
        times.update({hhmm, f"{hhmm}:{m[3]}"} if m[3] else {hhmm})
    return DocumentIndex(frozenset(_numbers(text)), frozenset(_dates(text)), frozenset(times),
                         _compact(text, _not_space), _compact(text, str.isalnum))


def _shown(value: Any) -> str:
    return format(to_decimal(value), "f") if isinstance(value, float) else str(value)


def check_grounding(values: Iterable[tuple[str, str, Any]], index: DocumentIndex) -> tuple[list[Finding], int]:
    """(path, kind, value) with kind number | date | time | identifier; returns findings and values checked."""
    out: list[Finding] = []
    n = 0
    for path, kind, value in values:
        if value is None or value == "":
            continue
        if kind == "number":
            if float(value).is_integer() and abs(value) < TINY:
                continue
            found = index.has_number(value)
        elif kind == "date":
            if _iso_or_none(value) is None:
                continue  # not a calendar date: plausibility says so, grounding cannot look it up
            found = index.has_date(value)
        elif kind == "time":
            found = index.has_time(str(value))
        else:
            found = index.has_identifier(str(value))
        n += 1
        if not found:
            out.append((path, "not_grounded", f"{_shown(value)} not found in document"))
    return out, n


def _iso_or_none(value: Any) -> str | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    return _iso(int(value[:4]), int(value[5:7]), int(value[8:]))
