"""Alt text: one short sentence per image for screen-reader users, checked and cut to a length limit.

Models like to open with "An image of..." and to overrun any length they are told, so the prompt asks and
`clean_alt` makes sure: the limit is a hard one, because CMSs and linters reject longer alt text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..engines import Engine, ImagePart, Options, Request, Stats
from .prompts import fill, prompt

__all__ = ["ALT_PROMPT", "DEFAULT_MAX_CHARS", "AltText", "alt_prompt", "alt_texts", "clean_alt"]

DEFAULT_MAX_CHARS = 125  # what screen readers and most accessibility checkers treat as "short"

ALT_PROMPT = prompt("alt-text")
CONTEXT_PROMPT = prompt("alt-text", "context")

_QUOTES = "\"'`“”„‟«»‹›‘’‚「」『』*_"
# Leading filler in a few languages: "A photo of", "This image shows", "Bild von", "Une photo de", ...
_FILLER = re.compile(
    r"^(?:"
    r"(?:alt(?:ernative)?[ -]?text|alt|description|caption)\s*[:\-–—]\s*"
    r"|(?:here\s+is\s+|this\s+is\s+)?(?:(?:an?|the|this)\s+)?(?:close-?up\s+)?"
    r"(?:image|picture|photo|photograph|pic)\s+(?:of|showing|shows|depicting|depicts|that\s+shows|with)\b\s*"
    r"|(?:in\s+)?(?:this|the)\s+(?:image|picture|photo|photograph)\s*"
    r"(?:,\s*(?:we\s+(?:can\s+)?see\b)?|we\s+(?:can\s+)?see\b|(?:shows|depicts)\b)\s*"
    r"|(?:(?:ein|das|dieses)\s+)?(?:bild|foto|photo|aufnahme)\s+(?:von|zeigt|mit)\b\s*"
    r"|(?:(?:une|l['’]|cette)\s*)?(?:image|photo|photographie)\s+(?:de|d['’]|montre|montrant|représentant)\s*"
    r"|(?:(?:una|la|esta)\s+)?(?:imagen|foto|fotografía)\s+(?:de|muestra|que\s+muestra)\b\s*"
    r"|(?:(?:uma|a|esta)\s+)?(?:imagem|foto|fotografia)\s+(?:de|do|da|mostra|que\s+mostra)\b\s*"
    r"|(?:(?:un['’]|una|l['’]|questa)\s*)?(?:immagine|foto|fotografia)\s+(?:di|che\s+mostra|mostra)\b\s*"
    r"|(?:(?:een|de|deze)\s+)?(?:afbeelding|foto)\s+(?:van|toont|met)\b\s*"
    r")",
    re.IGNORECASE,
)
_DANGLING_WORDS = frozenset({"a", "an", "the", "and", "or", "but", "of", "with", "in", "on", "at", "to", "for", "by",
                             "from", "as", "is", "are", "its", "their"})
_DANGLING = " ,;:-–—/\\([{<&+|" + _QUOTES


@dataclass
class AltText:
    source: str  # the image's name: its path or URL
    text: str
    error: str | None = None
    stats: Stats = field(default_factory=Stats)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.source, "alt_text": self.text, "error": self.error, "stats": self.stats.to_dict()}


def alt_prompt(max_chars: int = DEFAULT_MAX_CHARS, context: str | None = None, template: str = ALT_PROMPT) -> str:
    prompt = fill(template, max_chars=max_chars)
    if context and context.strip():
        context = context.encode("utf-8", "ignore").decode("utf-8")  # lone surrogates break tokenizers
        prompt += fill(CONTEXT_PROMPT, context=" ".join(context.split())[:600])
    return prompt


def _strip_quotes(text: str) -> str:
    text = re.sub(r"^(\*\*|__|\*|_)(.+)\1(\.?)$", r"\2\3", text.strip())  # markdown emphasis
    while len(text) >= 2:
        # A final period may sit outside the closing quote: "A dog on a beach".
        body, dot = (text[:-1], ".") if text[-1] == "." and text[-2] in _QUOTES else (text, "")
        first, last, inner = body[0], body[-1], body[1:-1]
        # Quoted words inside ("OPEN" sign ... "HI") are content, not wrapping quotes.
        if len(body) < 2 or first not in _QUOTES or last not in _QUOTES or first in inner or last in inner:
            break
        text = inner.strip() + dot
    return text


def _cut(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    head = text[:max_chars + 1]
    # A whole first sentence that fits reads better than a sentence cut in the middle.
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s)", head)]
    if ends and ends[-1] >= max_chars // 3:
        return text[:ends[-1]]
    space = head.rfind(" ")
    cut = head[:space] if space > 0 else text[:max_chars]
    words = cut.rstrip(_DANGLING).split(" ")
    while len(words) > 1 and words[-1].lower().rstrip(_DANGLING) in _DANGLING_WORDS:
        words.pop()  # "a dog on the" reads as broken; "a dog" does not
    return " ".join(words).rstrip(_DANGLING) or text[:max_chars].rstrip(_DANGLING)


def clean_alt(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Tidy a model's alt text: no quotes or filler opening, one line, and at most `max_chars` characters."""
    text = " ".join((text or "").split())
    for _ in range(3):  # "Alt text: "An image of ..."" peels in layers
        before = text
        text = _strip_quotes(text)
        text = _FILLER.sub("", text, count=1).lstrip(" ,:;-–—")
        if text == before:
            break
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    text = re.sub(r"\.{2,}$|…$", ".", text)
    text = re.sub(r"([.!?])\.+$", r"\1", text)
    text = _cut(text, max(1, max_chars)).rstrip(_DANGLING.replace(".", ""))
    if text[:1].islower():
        text = text[0].upper() + text[1:]
    return text[:max_chars]


def alt_texts(engine: Engine, parts: Sequence[ImagePart], max_chars: int = DEFAULT_MAX_CHARS,
              context: Sequence[str | None] | None = None, *, options: Options | None = None,
              system: str | None = None) -> list[AltText]:
    """Alt text for each image, all sent in one batch; an item the model fails on carries `error`."""
    parts = list(parts)
    if not parts:
        return []
    contexts = list(context) if context is not None else [None] * len(parts)
    if len(contexts) != len(parts):
        raise ValueError(f"got {len(contexts)} contexts for {len(parts)} images; pass one per image (or None)")
    opts = alt_options(options, max_chars)
    requests = [Request.simple(alt_prompt(max_chars, ctx), [p], system=system, options=opts)
                for p, ctx in zip(parts, contexts)]
    return [finish_alt(part.name, reply.text, reply.error, reply.stats, max_chars)
            for part, reply in zip(parts, engine.generate(requests))]


def alt_options(options: Options | None, max_chars: int) -> Options:
    """The caller's options, with a token budget when none was given."""
    # About 3 characters a token, plus room for a preamble clean_alt removes; a hard stop for rambling.
    return (options or Options()).with_defaults(max_tokens=max_chars // 2 + 24)


def finish_alt(source: str, raw: str | None, error: str | None, stats: Stats, max_chars: int) -> AltText:
    """A model's answer as alt text: cleaned, and an error when nothing usable is left."""
    text = "" if error else clean_alt(raw or "", max_chars)
    error = error or (None if text else "the model returned no usable alt text; try another model")
    return AltText(source, text, error, stats)
