"""Image tasks as data: each is a prompt (prompts.toml), a schema for the answer, and a post-check.

The CLI, the library and the job runner all go through `ImageTask.request` and `ImageTask.finish`, so a
screenshot read from the command line and one read in code are the same record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..engines import Engine, ImagePart, Options, Reply, Request
from ..schemas.chart import Chart
from ..schemas.screens import BugReport, ScreenReading
from .charts import check_chart, render_chart
from .prompts import prompt as builtin_prompt
from .screens import check_screen, render_screen

__all__ = ["ImageTask", "TASKS", "run_task"]

Check = Callable[[dict[str, Any], "str | None", "str | None"], dict[str, Any]]


@dataclass(frozen=True)
class ImageTask:
    name: str  # its section in prompts.toml
    schema: type[BaseModel]  # the pydantic model of the answer
    check: Check  # (answer, the image's own text by classic OCR, which engine read it) -> fields to add
    render: Callable[[dict[str, Any]], str]
    max_tokens: int = 1024  # when the caller sets none: room for the whole schema, a ceiling for a runaway

    @property
    def prompt(self) -> str:
        return builtin_prompt(self.name)

    def json_schema(self) -> dict[str, Any]:
        return self.schema.model_json_schema()

    def request(self, part: ImagePart, *, prompt: str | None = None, system: str | None = None,
                options: Options | None = None) -> Request:
        # Reading, not writing: greedy, so the same screen gives the same answer.
        opts = (options or Options()).with_defaults(max_tokens=self.max_tokens, temperature=0.0)
        return Request.simple(prompt or self.prompt, [part], system=system, options=opts, schema=self.json_schema())

    def finish(self, record: dict[str, Any], image: Any, ocr: str = "auto") -> dict[str, Any]:
        """A reply's record (Reply.to_dict plus source) with the task's checks added; a failed reply stays failed."""
        out = {**record, "task": self.name}
        if record.get("error") or not isinstance(record.get("data"), dict):
            return {**out, "status": "failed", "warnings": []}
        from .ocr import image_text

        text, engine = (None, None) if ocr == "none" else image_text(image, ocr)
        return {**out, **self.check(record["data"], text, engine)}


TASKS: dict[str, ImageTask] = {
    "screenshot": ImageTask("screenshot", ScreenReading, check_screen, render_screen),
    "bug-report": ImageTask("bug-report", BugReport, check_screen, render_screen),
    "chart": ImageTask("chart", Chart, check_chart, render_chart, max_tokens=2048),
}


def run_task(task: str | ImageTask, engine: Engine, parts: Sequence[ImagePart], *, prompt: str | None = None,
             system: str | None = None, options: Options | None = None, ocr: str = "auto") -> list[dict[str, Any]]:
    """One finished record per image, all sent to the engine as one batch."""
    t = TASKS[task] if isinstance(task, str) else task
    replies: list[Reply] = engine.generate([t.request(p, prompt=prompt, system=system, options=options)
                                            for p in parts])
    return [t.finish({"source": p.name, **r.to_dict()}, p.image, ocr) for p, r in zip(parts, replies)]
