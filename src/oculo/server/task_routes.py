"""oculo's own task routes (/oculo/v1/*): screenshot, bug report, chart and compare over HTTP.

The same `ImageTask` and `compare_images` as the CLI and the library, so a record from the server is the
record `oculo chart --json` prints. Images arrive base64 (bare or as data: URIs), as in the other APIs.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Request as HTTPRequest
from pydantic import Field

from ..engines.base import Options
from ..errors import InputError
from .wire import _Body, decode_image

router = APIRouter()


class TaskBody(_Body):
    images: list[str] = Field(..., min_length=1, max_length=64)
    prompt: str | None = None  # replaces the task's built-in prompt, as --prompt-file does
    ocr: Literal["auto", "rapidocr", "tesseract", "none"] = "auto"
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0)
    seed: int | None = None


class CompareBody(_Body):
    images: list[str] = Field(..., min_length=2, max_length=16)
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    mode: Literal["auto", "together", "describe"] = "auto"
    prompt: str | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0)
    seed: int | None = None


def _options(body: Any) -> Options:
    return Options(max_tokens=body.max_tokens, temperature=body.temperature, seed=body.seed)


@router.post("/oculo/v1/compare")
async def compare(body: CompareBody, http: HTTPRequest) -> dict[str, Any]:
    import anyio

    from ..tasks.compare import compare_images

    rt = http.app.state.oculo
    parts = [decode_image(img, f"images[{i}]", rt.limits()) for i, img in enumerate(body.images)]
    async with rt.exclusive():  # one comparison may be several engine calls
        return await anyio.to_thread.run_sync(lambda: compare_images(
            rt.engine, parts, schema=body.schema_, prompt=body.prompt, options=_options(body), mode=body.mode))


@router.post("/oculo/v1/{task}")
async def image_task(task: str, body: TaskBody, http: HTTPRequest) -> dict[str, Any]:
    """One checked record per image; the images of one call are answered together (batched in-process)."""
    import anyio

    from ..tasks.image_tasks import TASKS

    if task not in TASKS:
        raise InputError(f"no task {task!r}; POST to /oculo/v1/ with one of {', '.join([*TASKS, 'compare'])}")
    rt, t = http.app.state.oculo, TASKS[task]
    parts = [decode_image(img, f"images[{i}]", rt.limits()) for i, img in enumerate(body.images)]
    options = _options(body)

    async def one(part: Any) -> dict[str, Any]:
        _, reply, _ = await rt.generate(lambda: t.request(part, prompt=body.prompt, options=options))
        # The check reads the image with classic OCR: CPU work, off the event loop.
        return await anyio.to_thread.run_sync(t.finish, {"source": part.name, **reply.to_dict()}, part.image,
                                              body.ocr)

    return {"task": task, "results": list(await asyncio.gather(*(one(p) for p in parts)))}
