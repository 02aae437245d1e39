"""From recognized words with boxes to text lines in reading order: a pure function, the same for every OCR engine.

1. Rows: words are taken left to right, and each joins the row whose right-most word overlaps it vertically by at
   least half the smaller height. Comparing with the nearest word, not the row's whole band, keeps a slightly skewed
   line together while the line above and below, which barely overlap it, stay apart.
2. Columns: a gutter is a horizontal gap of at least 1.5 text heights seen in one row that the rows above and below
   do not cross (each row may narrow it; a row wholly on one side keeps it). The rows it holds for form a block that
   is read as a left column, then a right column (recursively, so three columns work), between what comes above and
   below it; a blank band taller than two text lines ends a block, since a new section starts past it.
   Invoices are full of such gaps that are *not* columns: labels and values, table cells. So a gap is treated as a
   gutter only when the text on both sides of it reads as prose: at least three lines, a median of at least three
   words per line, and lines that fill at least half the column's width. Tables and label/value pairs fail that
   test, and their rows are kept whole, cells joined with a space.

Engines that read a phrase at a time (RapidOCR) first split it into words with `split_phrase`: its recognizer
drops spaces on soft or JPEG-compressed scans ("Subtotal1,562.40"), but the page still shows the gap, so a blank
run between two characters at least `SPACE_GAP` text heights wide (and well above the line's usual letter gap) is
a word break. Measured on DejaVu at 150 dpi with JPEG artefacts: letter gaps reach 0.31 text heights ("11", "e:"),
the narrowest word space is 0.41.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

__all__ = ["Box", "Word", "Line", "assemble_lines", "split_phrase"]

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in page pixels, y downwards

ROW_OVERLAP = 0.5  # of the smaller height
PUNCT_BONUS = 0.5
GUTTER = 1.5  # in median text heights: wider than any word space, even in justified text
GUTTER_KEEP = 0.5  # a gutter narrowed below this by skew or stray glyphs is no gutter
BLOCK_BREAK = 2.0  # a blank band this tall (in the rows' own text heights) ends a column block: a new section
PROSE_WORDS = 3
PROSE_FILL = 0.5
MIN_COLUMN_LINES = 3
SPACE_GAP = 0.35  # blank run between two characters, in the line's ink height, that is a word space
SPACE_OVER_LETTERS = 2.0  # ...and at least this many times the line's median gap between letters


@dataclass
class Word:
    """A piece of recognized text: a word (tesseract) or a phrase (rapidocr), with its confidence in 0..1."""

    text: str
    box: Box
    confidence: float = 1.0

    @property
    def height(self) -> float:
        return max(self.box[3] - self.box[1], 1e-6)

    @property
    def cx(self) -> float:
        return (self.box[0] + self.box[2]) / 2

    @property
    def cy(self) -> float:
        return (self.box[1] + self.box[3]) / 2

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "box": _round_box(self.box), "confidence": round(self.confidence, 4)}


@dataclass
class Line:
    text: str
    box: Box
    confidence: float
    words: list[Word] = field(default_factory=list, repr=False)

    @classmethod
    def from_words(cls, words: Sequence[Word]) -> Line:
        words = sorted(words, key=lambda w: w.box[0])
        box = (min(w.box[0] for w in words), min(w.box[1] for w in words),
               max(w.box[2] for w in words), max(w.box[3] for w in words))
        # Weighted by length: a confident one-letter fragment should not lift a line of doubtful words.
        weights = [max(len(w.text), 1) for w in words]
        conf = sum(w.confidence * n for w, n in zip(words, weights)) / sum(weights)
        return cls(" ".join(w.text.strip() for w in words), box, conf, list(words))

    def to_dict(self, words: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "box": _round_box(self.box), "confidence": round(self.confidence, 4)}
        if words:
            out["words"] = [w.to_dict() for w in self.words]
        return out


def split_phrase(text: str, box: Box, confidence: float, chars: Sequence[tuple[str, Box]] | None,
                 gray: np.ndarray | None) -> list[Word]:
    """A recognized phrase as words, with the spaces its recognizer dropped put back from the page's own gaps.

    `chars` are the phrase's characters with their boxes (spaces left out), `gray` the page as an 8-bit array. The
    phrase's own spaces are always kept. Without usable character boxes the phrase is split at its spaces only,
    every piece with the phrase's box.
    """
    pieces = text.split()
    letters = [c for c in text if not c.isspace()]
    if not pieces:
        return []
    if gray is None or not chars or len(chars) != len(letters) or any(len(c) != 1 for c, _ in chars):
        return [Word(" ".join(pieces), box, confidence)]
    y0, y1 = max(int(box[1]), 0), min(round(box[3]) + 1, gray.shape[0])
    band = gray[y0:y1]
    if band.size == 0:
        return [Word(" ".join(pieces), box, confidence)]
    ink = band < (int(band.max()) + int(band.min())) / 2
    rows = np.flatnonzero(ink.any(axis=1))
    height = float(rows[-1] - rows[0] + 1) if rows.size else box[3] - box[1]
    columns = np.asarray(ink.any(axis=0))
    spaced = [i > 0 and text_gap for i, text_gap in _space_before(text)]
    gaps = [_blank_run(columns, chars[i - 1][1], chars[i][1]) for i in range(1, len(chars))]
    letter_gaps = [g for g, sp in zip(gaps, spaced[1:]) if not sp]
    usual = statistics.median(letter_gaps) if letter_gaps else 0.0
    limit = max(SPACE_GAP * height, SPACE_OVER_LETTERS * usual)
    words: list[list[tuple[str, Box]]] = [[chars[0]]]
    for i in range(1, len(chars)):
        if spaced[i] or gaps[i - 1] >= limit:
            words.append([])
        words[-1].append(chars[i])
    return [Word("".join(c for c, _ in w), (w[0][1][0], box[1], w[-1][1][2], box[3]), confidence) for w in words]


def _space_before(text: str) -> list[tuple[int, bool]]:
    """For each non-space character: its index among them, and whether the text has a space before it."""
    out, gap, n = [], False, 0
    for c in text:
        if c.isspace():
            gap = True
            continue
        out.append((n, gap))
        gap, n = False, n + 1
    return out


def _blank_run(columns: np.ndarray, left: Box, right: Box) -> float:
    """The longest run of ink-free pixel columns between two characters' centres."""
    a = max(int((left[0] + left[2]) / 2), 0)
    b = min(int((right[0] + right[2]) / 2), columns.shape[0])
    if b <= a:
        return 0.0
    seg = columns[a:b]
    best = run = 0
    for has_ink in seg:
        run = 0 if has_ink else run + 1
        best = max(best, run)
    return float(best)


def _round_box(box: Box) -> list[int]:
    return [round(v) for v in box]


def assemble_lines(words: Iterable[Word]) -> list[Line]:
    """Words to lines, top to bottom, columns one after the other."""
    kept = [w for w in words if w.text.strip()]
    if not kept:
        return []
    unit = statistics.median(w.height for w in kept)
    return _order(kept, unit)


def _order(words: list[Word], unit: float) -> list[Line]:
    rows = _rows(words)
    block = _find_columns(rows, unit)
    if block is None:
        return [Line.from_words(r) for r in rows]
    start, end, mid = block
    inside = [w for r in rows[start:end] for w in r]
    below = [w for r in rows[end:] for w in r]
    return ([Line.from_words(r) for r in rows[:start]]
            + _order([w for w in inside if w.cx < mid], unit)
            + _order([w for w in inside if w.cx >= mid], unit)
            + (_order(below, unit) if below else []))


def _rows(words: list[Word]) -> list[list[Word]]:
    rows: list[list[Word]] = []
    for w in sorted(words, key=lambda w: (w.box[0], w.box[1])):
        best, best_score = None, ROW_OVERLAP
        # A lone comma or period is a few pixels hanging at the baseline: any overlap with its row is enough.
        bonus = 0.0 if any(c.isalnum() for c in w.text) else PUNCT_BONUS
        for row in rows:
            last = row[-1]
            small = min(w.height, last.height)
            if w.box[0] < last.box[2] - 0.5 * small:
                continue  # it sits under or over the row's last word: another line
            # ...and the word after it lines up with the text before it, not with the comma.
            ref = next((x for x in reversed(row) if any(c.isalnum() for c in x.text)), last)
            small = min(w.height, ref.height)
            overlap = min(w.box[3], ref.box[3]) - max(w.box[1], ref.box[1])
            score = overlap / small + bonus
            if score >= best_score:
                best, best_score = row, score
        if best is None:
            rows.append([w])
        else:
            best.append(w)
    rows.sort(key=lambda r: statistics.median(w.cy for w in r))
    return rows


def _find_columns(rows: list[list[Word]], unit: float) -> tuple[int, int, float] | None:
    """The top-most block of rows split by a column gutter: (first row, end row, gutter x), or None."""
    tried: set[tuple[int, int, int]] = set()
    for k, row in enumerate(rows):
        for a, b in pairwise(row):
            if b.box[0] - a.box[2] < GUTTER * unit:
                continue
            start, end, lo, hi = _grow(rows, k, a.box[2], b.box[0], unit)
            key = (start, end, round((lo + hi) / (2 * unit)))
            if key in tried:
                continue
            tried.add(key)
            if _is_columns(rows[start:end], (lo + hi) / 2, unit):
                return start, end, (lo + hi) / 2
    return None


def _grow(rows: list[list[Word]], k: int, lo: float, hi: float, unit: float) -> tuple[int, int, float, float]:
    def narrowed(row: list[Word], lo: float, hi: float) -> tuple[float, float] | None:
        mid = (lo + hi) / 2
        for w in row:
            if w.box[0] < hi and w.box[2] > lo:
                if w.cx < mid:
                    lo = max(lo, w.box[2])
                else:
                    hi = min(hi, w.box[0])
        return (lo, hi) if hi - lo >= GUTTER_KEEP * unit else None

    def apart(upper: list[Word], lower: list[Word]) -> bool:
        # Measured in the rows' own text size: small print under a big table is a new section after a short gap.
        height = min(statistics.median(w.height for w in upper), statistics.median(w.height for w in lower))
        return min(w.box[1] for w in lower) - max(w.box[3] for w in upper) > BLOCK_BREAK * height

    start = k
    while start > 0 and not apart(rows[start - 1], rows[start]):
        span = narrowed(rows[start - 1], lo, hi)
        if span is None:
            break
        lo, hi = span
        start -= 1
    end = k + 1
    while end < len(rows) and not apart(rows[end - 1], rows[end]):
        span = narrowed(rows[end], lo, hi)
        if span is None:
            break
        lo, hi = span
        end += 1
    return start, end, lo, hi


def _is_columns(rows: list[list[Word]], mid: float, unit: float) -> bool:
    left: list[list[Word]] = []
    right: list[list[Word]] = []
    for row in rows:
        lhs = [w for w in row if w.cx < mid]
        rhs = [w for w in row if w.cx >= mid]
        # Only the text next to the gutter counts: in three columns, the far column's gap is not this one's business.
        if lhs:
            left.append(_segments(lhs, unit)[-1])
        if rhs:
            right.append(_segments(rhs, unit)[0])
    return _prose(left) and _prose(right)


def _segments(row: list[Word], unit: float) -> list[list[Word]]:
    segs = [[row[0]]]
    for a, b in pairwise(row):
        if b.box[0] - a.box[2] >= GUTTER * unit:
            segs.append([b])
        else:
            segs[-1].append(b)
    return segs


def _prose(segments: list[list[Word]]) -> bool:
    if len(segments) < MIN_COLUMN_LINES:
        return False
    words = statistics.median(sum(len(w.text.split()) for w in s) for s in segments)
    x0 = min(s[0].box[0] for s in segments)
    x1 = max(s[-1].box[2] for s in segments)
    fill = statistics.median(s[-1].box[2] - s[0].box[0] for s in segments) / max(x1 - x0, 1e-6)
    return words >= PROSE_WORDS and fill >= PROSE_FILL
