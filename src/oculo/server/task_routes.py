"""oculo's own task routes (/oculo/v1/*): screenshot, bug report, chart and compare over HTTP.

The same `ImageTask` and `compare_images` as the CLI and the library, so a record from the server is the
record `oculo chart --json` prints. Images arrive base64 (bare or as data: URIs), as in the other APIs.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

from fastapi import APIRouter
from fastapi import Request as HTTPRequest
from pydantic import Field

from ..engines.base import Options
from ..errors import InputError
from .checks import check_schema
from .wire import Seed, _Body, decode_image, parse_body

router = APIRouter()


class TaskBody(_Body):
    images: list[str] = Field(..., min_length=1, max_length=64)
    prompt: str | None = None  # replaces the task's built-in prompt, as --prompt-file does
    ocr: Literal["auto", "rapidocr", "tesseract", "none"] = "auto"
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=100)
    seed: Seed | None = None


class CompareBody(_Body):
    images: list[str] = Field(..., min_length=2, max_length=16)
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    mode: Literal["auto", "together", "describe"] = "auto"
    prompt: str | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=100)
    seed: Seed | None = None


def _options(body: Any, rt: Any) -> Options:
    d = rt.config.defaults
    o = Options(max_tokens=body.max_tokens if body.max_tokens is not None else d.max_tokens,
                temperature=body.temperature if body.temperature is not None else d.temperature,
                seed=body.seed if body.seed is not None else d.seed)
    if o.max_tokens is not None and o.max_tokens > rt.config.max_output_tokens:
        raise InputError(f"max_tokens: {o.max_tokens} is over this server's limit of {rt.config.max_output_tokens}")
    return o


async def _decode_all(rt: Any, images: list[str]) -> list[Any]:
    """Decoding is CPU work: off the event loop, in the runtime's bounded pool, so one huge PNG blocks no route."""
    rt.limit_images(len(images))
    return list(await asyncio.gather(*(rt.off_loop(decode_image, img, f"images[{i}]", rt.limits())
                                       for i, img in enumerate(images))))


def _public(rt: Any, record: dict[str, Any]) -> dict[str, Any]:
    """No local paths in what a client reads: the model's folder becomes its served name."""
    return json.loads(rt.public(json.dumps(record, ensure_ascii=False)))


_TASK_OPENAPI = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": TaskBody.model_json_schema()}}}}
_COMPARE_OPENAPI = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": CompareBody.model_json_schema(by_alias=True)}}}}


@router.post("/oculo/v1/compare", openapi_extra=_COMPARE_OPENAPI,
             summary="Compare 2-16 images together or by descriptions, optionally into a JSON schema")
async def compare(http: HTTPRequest) -> dict[str, Any]:
    from ..tasks.compare import compare_images

    body = await parse_body(http, CompareBody)
    rt = http.app.state.oculo
    if body.schema_ is not None:
        await rt.off_loop(check_schema, json.dumps(body.schema_), rt.caps.schema)
    options = _options(body, rt)
    async with rt.admitted():
        parts = await _decode_all(rt, body.images)
        async with rt.slots:  # one comparison may be several engine calls
            record = await rt.off_loop(lambda: compare_images(
                rt.engine, parts, schema=body.schema_, prompt=body.prompt, options=options, mode=body.mode))
    return _public(rt, record)


@router.post("/oculo/v1/{task}", openapi_extra=_TASK_OPENAPI,
             summary="Run a task (screenshot, bug-report, chart, ...) on each image; one checked record per image")
async def image_task(task: str, http: HTTPRequest) -> dict[str, Any]:
    """One checked record per image; the images of one call are answered together (batched in-process)."""
    from ..tasks.image_tasks import TASKS

    if task not in TASKS:
        raise InputError(f"no task {task[:40]!r}; POST to /oculo/v1/ with one of {', '.join([*TASKS, 'compare'])}")
    body = await parse_body(http, TaskBody)
    rt, t = http.app.state.oculo, TASKS[task]
    options = _options(body, rt)
    async with rt.admitted():  # one admission per HTTP request, whatever its image count
        parts = await _decode_all(rt, body.images)

        async def one(part: Any) -> dict[str, Any]:
            _, reply, _ = await rt.generate(lambda: t.request(part, prompt=body.prompt, options=options), http,
                                            admit=False)
            # The check reads the image with classic OCR: CPU work, off the event loop.
            return await rt.off_loop(t.finish, {"source": part.name, **reply.to_dict()}, part.image, body.ocr)

        results = list(await asyncio.gather(*(one(p) for p in parts)))
    return {"task": task, "results": [_public(rt, r) for r in results]}
