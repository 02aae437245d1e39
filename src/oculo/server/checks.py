"""Everything that can be refused before a request reaches a batch: a bad request must fail alone, at once.

Runs on a worker thread (tokenizing and schema compilation are CPU work) after the route built the request.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    from ..engines.base import Request

__all__ = ["check_request", "check_schema"]

# A token covers at most a few characters of real text; past this many characters per token of context the
# prompt cannot fit, and it is refused without tokenizing a megabyte.
_CHARS_PER_TOKEN_CEILING = 8


def check_request(rt: Any, request: Request) -> None:
    cfg = rt.config
    rt.engine.check(request)  # no vision, too many images, no schema support: Unsupported, a 400
    rt.limit_images(len(request.images))
    limit = rt.caps.max_aspect  # the bound decoding pads to: what passes it here, the processor takes
    for part in request.images:
        w, h = part.image.size
        if max(w, h) > limit * min(w, h):
            # Decoding pads slivers to this bound, so only an image that skipped decoding can get here; a processor
            # would refuse it inside the batch, so it is refused here, for this request alone.
            raise InputError(f"{part.name}: image is {w}x{h} after resizing, more elongated than {limit:g}:1; "
                             "crop it or pad it first")
    o = request.options
    if o.max_tokens is not None and o.max_tokens > cfg.max_output_tokens:
        raise InputError(f"max tokens {o.max_tokens} is over this server's limit of {cfg.max_output_tokens} "
                         "(--max-output-tokens); ask for fewer")
    if o.max_tokens is not None and o.max_tokens < 1:
        raise InputError("max tokens must be at least 1")
    for i, m in enumerate(request.messages):
        try:
            m.text.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(
                f"message {i + 1}: text is not valid Unicode (a lone surrogate); send UTF-8 text") from None
    _check_prompt_length(rt, request)
    if request.schema is not None:
        check_schema(json.dumps(request.schema, sort_keys=False), rt.caps.schema)


def _check_prompt_length(rt: Any, request: Request) -> None:
    text = "\n".join(m.text for m in request.messages)
    context = rt.context_length()
    ceiling = rt.config.max_prompt_chars or (context * _CHARS_PER_TOKEN_CEILING if context else None)
    if ceiling is not None and len(text) > ceiling:
        raise InputError(f"prompt is {len(text):,} characters, over this server's limit of {ceiling:,}"
                         + (f" (the model's context is {context:,} tokens)" if context else "")
                         + "; shorten it")
    count = getattr(rt.engine, "count_tokens", None)
    if context and count is not None:
        tokens = count(text)
        wanted = request.options.max_tokens or 0
        if tokens + wanted > context:
            room = f" plus {wanted:,} to generate" if wanted else ""
            raise InputError(f"prompt is {tokens:,} tokens{room}, over the model's context of {context:,} tokens; "
                             "shorten it")


@lru_cache(maxsize=256)
def check_schema(schema_json: str, grammar: bool = True) -> None:
    """A schema the validator rejects, or the grammar compiler cannot build, is a 400 here, not a C++ error later."""
    import jsonschema

    schema = json.loads(schema_json)
    if not isinstance(schema, dict):
        raise InputError("schema (format / response_format): a JSON schema must be an object")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        message = f"schema (format / response_format): invalid JSON schema at {where}: {e.message}"
        raise InputError(message[:400]) from None
    if not grammar:
        return
    from ..engines.torch_import import before_torch

    before_torch()  # xgrammar imports torch
    try:
        import xgrammar as xgr
    except ImportError:
        return
    try:
        xgr.Grammar.from_json_schema(schema_json, any_whitespace=False)
    except Exception as e:  # noqa: BLE001 - the compiler raises RuntimeError/ValueError with its own text
        reason = " ".join(str(e).split())[:200] or "unsupported"
        raise InputError(f"schema (format / response_format): cannot be enforced ({reason}); simplify it") from None
