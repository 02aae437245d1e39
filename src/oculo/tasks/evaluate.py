"""`oculo eval`: extraction over documents with ground truth, scored per field, one row per model.

The default fields are the classic five-field invoice test: vendor, date, total, tax amount, line-item count.
Ground truth may use other field names; a mapping (built in for invoice2data's names) translates it.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..schemas.truth import INVOICE2DATA, map_truth

__all__ = ["FIELDS", "INVOICE2DATA", "Entry", "Score", "find_documents", "load_mapping", "map_truth", "derive",
           "evaluate", "parse_models", "leaves_machine"]

FIELDS = ("vendor", "date", "total", "tax", "line_count")
DOC_SUFFIXES = (".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")

@dataclass(frozen=True)
class Entry:
    """One `--models` entry: the engine it names (None: --engine's), the model, and the row's label as given."""

    engine: str | None
    model: str
    label: str


def parse_models(spec: str, engines: Sequence[str]) -> list[Entry]:
    """`a,ollama:qwen2.5vl:7b,openai:gpt-4o` to entries. The text before the first colon is an engine only when
    it is one of `engines`: Ollama tags have colons of their own (`qwen2.5vl:7b` is a model, not an engine)."""
    out = []
    for item in (m.strip() for m in spec.split(",")):
        if not item:
            continue
        prefix, sep, rest = item.partition(":")
        if sep and prefix.strip().lower() in engines:
            if not rest.strip():
                raise InputError(f"--models entry {item!r} names an engine but no model; write it as "
                                 f"{prefix}:MODEL")
            out.append(Entry(prefix.strip().lower(), rest.strip(), item))
        else:
            out.append(Entry(None, item, item))
    if not out:
        raise InputError("--models is empty; give models to compare, e.g. --models ollama:qwen2.5vl:7b,openai:gpt-4o")
    return out


def leaves_machine(base_url: str) -> bool:
    """Whether requests to this URL go off this machine: anything but localhost or a loopback address does."""
    from urllib.parse import urlsplit

    host = (urlsplit(base_url if "://" in base_url else "http://" + base_url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return True


_LEGAL = re.compile(r"\b(inc|ltd|llc|gmbh|bv|b v|nv|sa|sas|sarl|ag|plc|co|corp|pvt|private|limited|sp z o o)\b")


def load_mapping(path: str | None) -> dict[str, Any]:
    if not path:
        return INVOICE2DATA
    try:
        mapping = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{path}: cannot read the mapping ({e.strerror}); check the path") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e.msg}, line {e.lineno}); fix the mapping file") from None
    if not isinstance(mapping, dict):
        raise InputError(f"{path}: a mapping is a JSON object of oculo field -> ground-truth field")
    return mapping


def find_documents(folder: str | Path) -> list[tuple[Path, Path]]:
    """(document, ground truth) pairs: every NAME.json beside a NAME.pdf (or image; PDF preferred)."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{folder}: not a folder; pass the folder holding documents and their .json truth")
    pairs = []
    for truth in sorted(root.glob("*.json")):
        docs = [truth.with_suffix(s) for s in DOC_SUFFIXES if truth.with_suffix(s).exists()]
        if docs:
            pairs.append((docs[0], truth))
    if not pairs:
        raise InputError(f"{folder}: no document has a ground-truth NAME.json beside it")
    return pairs


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(str(v).replace(",", "").strip())
    except ValueError:
        return None


def derive(record: dict[str, Any]) -> dict[str, Any]:
    """The five fields from an Invoice-shaped record (prediction or mapped truth), the same way for both."""
    total, subtotal = _num(record.get("total")), _num(record.get("subtotal"))
    tax = _num(record.get("tax_total"))
    if tax is None and record.get("tax_lines"):
        amounts = [_num(t.get("amount")) for t in record["tax_lines"] if isinstance(t, dict)]
        tax = sum(a for a in amounts if a is not None) if any(a is not None for a in amounts) else None
    if tax is None and total is not None and subtotal is not None:
        tax = round(total - subtotal, 2)
    items = [i for i in (record.get("line_items") or []) if isinstance(i, dict) and i.get("description")]
    plain = {k: v for k, v in record.items() if not isinstance(v, (list, dict))}  # --fields may name any of these
    return {**plain, "vendor": record.get("vendor"), "date": record.get("issue_date"), "total": total, "tax": tax,
            "line_count": len(items) if "line_items" in record else None}


def _vendor_key(name: str) -> set[str]:
    words = _LEGAL.sub(" ", re.sub(r"[^\w\s]", " ", name.casefold()))
    return set(words.split())


def same(field_name: str, predicted: Any, expected: Any) -> bool:
    if predicted is None:
        return False
    if field_name == "vendor":
        a, b = _vendor_key(str(predicted)), _vendor_key(str(expected))
        return bool(a and b) and (a <= b or b <= a or len(a & b) / len(a | b) >= 0.5)
    if field_name in ("total", "tax"):
        p = _num(predicted)
        return p is not None and abs(p - float(expected)) <= max(0.01, 0.005 * abs(float(expected)))
    if field_name in ("date", "issue_date", "due_date"):
        return str(predicted).strip()[:10] == str(expected).strip()[:10]
    p, e = _num(predicted), _num(expected)
    if p is not None and e is not None:
        return abs(p - e) <= max(0.01, 0.005 * abs(e))
    return " ".join(str(predicted).split()).casefold() == " ".join(str(expected).split()).casefold()


@dataclass
class Score:
    model: str
    per_field: dict[str, list[bool]] = field(default_factory=dict)  # one entry per document that has the field
    seconds: float = 0.0
    documents: int = 0
    generated_tokens: int = 0
    generation_s: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        marks = [m for ms in self.per_field.values() for m in ms]
        return sum(marks) / len(marks) if marks else 0.0

    @property
    def tokens_per_s(self) -> float | None:
        return self.generated_tokens / self.generation_s if self.generation_s > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "score": round(self.score, 4), "documents": self.documents,
                "fields": {f: {"correct": sum(m), "scored": len(m)} for f, m in self.per_field.items()},
                "seconds_per_document": round(self.seconds / self.documents, 3) if self.documents else None,
                "tokens_per_s": round(self.tokens_per_s, 2) if self.tokens_per_s else None,
                "failures": self.failures}


def evaluate(pairs: Sequence[tuple[Path, Path]], model: str, run: Callable[[Path], Any],
             fields: Sequence[str] = FIELDS, mapping: dict[str, Any] | None = None) -> Score:
    """`run(document)` returns an ExtractResult; each field present in the truth is scored."""
    score = Score(model, {f: [] for f in fields})
    for doc, truth_path in pairs:
        truth = derive(map_truth(json.loads(truth_path.read_text(encoding="utf-8")), mapping or INVOICE2DATA))
        t0 = time.perf_counter()
        result = run(doc)
        score.seconds += time.perf_counter() - t0
        score.documents += 1
        s = result.stats
        if s.generated_tokens and s.total_s:
            score.generated_tokens += s.generated_tokens
            score.generation_s += max(1e-9, s.total_s - (s.ttft_s or 0.0))
        if result.data is None:
            score.failures.append(f"{doc.name}: {result.error}")
        predicted = derive(result.data or {})
        for f in fields:
            if truth.get(f) is not None:
                score.per_field[f].append(same(f, predicted.get(f), truth[f]))
    return score
