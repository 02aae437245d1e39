"""A scripted engine for tests, the way httpx ships `MockTransport`: a real `Engine`, no model.

    eng = FakeEngine()                                  # echoes the prompt; schema-valid JSON when asked
    eng = FakeEngine(["A cat.", None, EngineError("x")])  # one answer per request, in order
    eng = FakeEngine(lambda request: f"{len(request.images)} images")
    eng.requests[-1].options.max_tokens                 # what the code under test sent

An answer is one of:
- a str: the reply's text, as is (also when the request has a schema, so a test can send bad JSON);
- a dict or list: sent as JSON text;
- None: the default answer: JSON valid for the request's schema, else "echo: <prompt>";
- a `Reply`: returned as is (use `FakeEngine.failed("why")` for an item that fails alone in its batch);
- an exception: raised by `generate`/`stream`, as a broken backend would.

Every reply counts one whitespace-separated word as one token: `max_tokens` cuts the text there with
finish_reason "length", and streaming yields one word per chunk. Times are fixed (ttft 0.01 s, total 0.02 s)
so tests can assert on them.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..engines.base import Capabilities, Chunk, Engine, Reply, Request, Stats

__all__ = ["FakeEngine", "Answer", "schema_instance"]

Answer = str | dict | list | Reply | BaseException | None


class FakeEngine(Engine):
    """A real `Engine` whose replies come from a script; it records every request it is given.

    `replies`: a function of the request, or a list consumed one request at a time (None: the default answer).
    `capabilities`: what the engine declares (default: vision, schema, streaming; one request at a time).
    `error`: raised by every call, for code that must survive a broken engine.
    `on_piece(request, i)`: called before the i-th streamed piece; may sleep or raise (a mid-stream failure).
    """

    name = "fake"

    def __init__(self, replies: Callable[[Request], Answer] | Iterable[Answer] | None = None, *,
                 model: str = "fake-model", name: str | None = None, capabilities: Capabilities | None = None,
                 error: BaseException | None = None,
                 on_piece: Callable[[Request, int], None] | None = None, max_pixels: int | None = None) -> None:
        super().__init__(model, max_pixels=max_pixels)
        if name is not None:
            self.name = name
        self.caps = capabilities or Capabilities()
        self.error = error
        self.on_piece = on_piece
        self._script: Callable[[Request], Answer] | None = None
        self._queue: list[Answer] | None = None
        if callable(replies):
            self._script = replies
        elif replies is not None:
            self._queue = list(replies)
        self.requests: list[Request] = []  # every request, in the order the engine saw them
        self.batches: list[list[Request]] = []  # one list per generate() call
        self.streamed = 0  # pieces the last stream yielded
        self.closed = False
        self._lock = threading.Lock()

    @staticmethod
    def failed(message: str) -> Reply:
        """An answer for one item that fails on its own (its batch's other replies still stand)."""
        return Reply("", "", "", error=message)

    @property
    def last(self) -> Request | None:
        return self.requests[-1] if self.requests else None

    @property
    def calls(self) -> int:
        """How many generate() and stream() calls reached the engine."""
        return len(self.batches) + self._streams

    _streams = 0

    # ---- the seam ----------------------------------------------------------------------------------------
    def _capabilities(self) -> Capabilities:
        return self.caps

    def _generate(self, requests: list[Request]) -> list[Reply]:
        with self._lock:
            self.batches.append(list(requests))
        return [self._reply(r)[1] for r in requests]

    def _stream(self, request: Request) -> Iterator[Chunk]:
        with self._lock:
            self._streams += 1
        pieces, reply = self._reply(request)
        self.streamed = 0
        for i, piece in enumerate(pieces):
            if self.on_piece is not None:
                self.on_piece(request, i)
            self.streamed += 1
            yield Chunk(piece)
        yield Chunk("", reply)

    def close(self) -> None:
        self.closed = True

    # ---- answers -----------------------------------------------------------------------------------------
    def _answer(self, request: Request) -> Answer:
        with self._lock:
            self.requests.append(request)
            if self.error is not None:
                raise self.error
            if self._queue is not None:
                if not self._queue:
                    raise AssertionError(f"FakeEngine has no scripted reply left for request {len(self.requests)}")
                return self._queue.pop(0)
        return self._script(request) if self._script is not None else None

    def _reply(self, request: Request) -> tuple[list[str], Reply]:
        answer = self._answer(request)
        if isinstance(answer, BaseException):
            raise answer
        prompt = request.messages[-1].text if request.messages else ""
        if isinstance(answer, Reply):
            answer.model = answer.model or self.model
            answer.engine = answer.engine or self.name
            return ([answer.text] if answer.text else []), answer
        if answer is None:
            answer = schema_instance(request.schema) if request.schema is not None else f"echo: {prompt}"
        text = answer if isinstance(answer, str) else json.dumps(answer)
        pieces = re.findall(r"\s*\S+\s*", text) or ([text] if text else [])
        finish = "stop"
        limit = request.options.max_tokens
        if limit is not None and len(pieces) > limit:
            pieces, finish = pieces[:limit], "length"
        stats = Stats(prompt_tokens=len(prompt.split()), generated_tokens=len(pieces), ttft_s=0.01, total_s=0.02,
                      load_s=0.0)
        return pieces, Reply("".join(pieces), self.model, self.name, stats, finish_reason=finish)


def schema_instance(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """A small value valid for a JSON schema: the first enum value, minimal strings, numbers and arrays.

    Covers what oculo's schemas use (objects, arrays, enums, const, anyOf/oneOf, $ref to $defs, bounds);
    `FakeEngine` still validates the result like any engine's output, so a gap here fails loudly.
    """
    root = schema if root is None else root
    if "$ref" in schema:
        ref = schema["$ref"]
        target: Any = root
        for part in ref.removeprefix("#/").split("/"):
            if part:
                target = target[part]
        return schema_instance(target, root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:  # the first choice whose value is valid, preferring a value to null
            choices = sorted(schema[key], key=lambda s: s.get("type") == "null")
            values = [schema_instance(choice, root) for choice in choices]
            return next((v for v, c in zip(values, choices, strict=True) if _valid(v, c, root)), values[-1])
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for s in schema["allOf"]:
            merged.update(s)
        return schema_instance(merged, root)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: schema_instance(sub, root) for name, sub in props.items()}
    if kind == "array":
        items = schema.get("items", {})
        return [schema_instance(items, root) for _ in range(schema.get("minItems", 0))]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema["exclusiveMinimum"] + 1 if "exclusiveMinimum" in schema else 0)
        high = schema.get("maximum", schema["exclusiveMaximum"] - 1 if "exclusiveMaximum" in schema else None)
        value = low if high is None else min(low, high)
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    if "pattern" in schema:
        return next((c for c in _PATTERN_GUESSES if re.search(schema["pattern"], c)), "x")
    return "x" * max(1, schema.get("minLength", 1)) if schema.get("maxLength", 1) >= 1 else ""


_PATTERN_GUESSES = ("x", "2024-01-31", "12:00", "0", "1", "A", "AB", "ABC", "a@b.c", "http://x")


def _valid(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> bool:
    import jsonschema

    return jsonschema.Draft202012Validator({**schema, "$defs": root.get("$defs", {})}).is_valid(value)
