"""Comparing images: in one request when the model takes them all, else describe each and compare the texts.

The second way loses what no description mentions, so its result says which way was taken, and the text
prompt tells the model not to call an omission a difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..engines import Engine, ImagePart, Options, Request, Stats
from ..errors import InputError
from .prompts import fill
from .prompts import prompt as builtin_prompt

__all__ = ["MODES", "compare_images", "fits_one_request"]

MODES = ("auto", "together", "describe")


def fits_one_request(engine: Engine, count: int) -> bool:
    caps = engine.capabilities()
    return all(limit is None or limit >= count for limit in (caps.max_images, caps.images_per_message))


def _label(i: int, part: ImagePart) -> str:
    return f"image {i} ({Path(part.name).name})"


def compare_images(engine: Engine, parts: Sequence[ImagePart], *, schema: dict[str, Any] | None = None,
                   prompt: str | None = None, system: str | None = None, options: Options | None = None,
                   mode: str = "auto", text_engine: Engine | None = None) -> dict[str, Any]:
    """What differs between the images: one record with `text` (and `data` with a schema) and `mode`.

    `text_engine` (which may be text-only) compares the descriptions when the images cannot go together.
    """
    parts = list(parts)
    if len(parts) < 2:
        raise InputError("compare needs at least two images; give two or more paths")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    opts = (options or Options()).with_defaults(temperature=0.0)
    together = mode == "together" or (mode == "auto" and fits_one_request(engine, len(parts)))
    sources = [p.name for p in parts]
    names = ", ".join(_label(i, p) for i, p in enumerate(parts, 1))
    if together:
        # The engine refuses, in one line, a model that cannot take this many images: never a silent drop.
        text = fill(prompt or builtin_prompt("compare"), count=len(parts), names=names)
        reply = engine.generate([Request.simple(text, parts, system=system, options=opts, schema=schema)])[0]
        return {"sources": sources, "mode": "together", **reply.to_dict()}

    each = engine.generate([Request.simple(builtin_prompt("compare", "each"), [p], system=system,
                                           options=opts.with_defaults(max_tokens=400))
                            for p in parts])
    stats = Stats()
    descriptions = []
    for part, reply in zip(parts, each):
        stats.add(reply.stats)
        if reply.error:
            return {"sources": sources, "mode": "describe", "text": "", "data": None,
                    "error": f"{part.name}: could not be described: {reply.error}", "stats": stats.to_dict()}
        descriptions.append({"source": part.name, "text": reply.text.strip()})
    listing = "\n\n".join(f"Image {i} ({Path(d['source']).name}):\n{d['text']}"
                          for i, d in enumerate(descriptions, 1))
    # A --prompt-file is the comparison's instructions; the descriptions always follow it.
    instructions = fill(prompt, count=len(parts), names=names) + "\n\n{descriptions}" if prompt else \
        builtin_prompt("compare", "text")
    final = (text_engine or engine).generate([Request.simple(
        fill(instructions, count=len(parts), descriptions=listing), [], system=system, options=opts,
        schema=schema)])[0]
    stats.add(final.stats)
    return {"sources": sources, "mode": "describe", **final.to_dict(), "stats": stats.to_dict(),
            "descriptions": descriptions}

