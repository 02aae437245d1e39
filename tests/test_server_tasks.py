"""oculo's own task routes over real HTTP, against `oculo serve` with the terse tiny model."""

from __future__ import annotations

import base64
import io

import httpx
import jsonschema
import pytest
from PIL import Image

from oculo.schemas.chart import Chart
from oculo.schemas.screens import BugReport, ScreenReading
from oculo.tasks.charts import ESTIMATE_NOTE
from oculo.testing.images import make_image

from .conftest import BOUNDED_SCHEMA


def _b64(img: Image.Image, data_uri: bool = False) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    raw = base64.b64encode(buf.getvalue()).decode()
    return f"data:image/png;base64,{raw}" if data_uri else raw


@pytest.fixture(scope="module")
def pictures() -> list[str]:
    return [_b64(make_image(96, 64, seed=1)), _b64(make_image(80, 80, seed=2), data_uri=True)]


@pytest.mark.parametrize("task, model", [("screenshot", ScreenReading), ("bug-report", BugReport), ("chart", Chart)])
def test_task_routes_give_checked_schema_valid_records(served_terse, pictures, task, model):
    r = httpx.post(f"{served_terse}/oculo/v1/{task}", json={"images": pictures, "ocr": "none"}, timeout=120)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["task"] == task and len(body["results"]) == 2
    for record, name in zip(body["results"], ("images[0]", "images[1]")):
        assert record["source"] == name and record["status"] in ("ok", "warnings") and record["task"] == task
        model.model_validate(record["data"])
    if task == "chart":
        assert all(r["note"] == ESTIMATE_NOTE for r in body["results"])


def test_compare_route_together_and_with_a_schema(served_terse, pictures):
    r = httpx.post(f"{served_terse}/oculo/v1/compare", json={"images": pictures, "schema": BOUNDED_SCHEMA},
                   timeout=120)
    assert r.status_code == 200, r.text
    record = r.json()
    assert record["mode"] == "together" and record["sources"] == ["images[0]", "images[1]"]
    jsonschema.validate(record["data"], BOUNDED_SCHEMA)
    described = httpx.post(f"{served_terse}/oculo/v1/compare",
                           json={"images": pictures, "mode": "describe", "max_tokens": 8}, timeout=120).json()
    assert described["mode"] == "describe" and len(described["descriptions"]) == 2


@pytest.mark.parametrize("path, body, status, words", [
    ("/oculo/v1/poem", {"images": ["x"]}, 400, "no task 'poem'"),
    ("/oculo/v1/chart", {"images": ["not base64!"]}, 400, "images[0]"),
    ("/oculo/v1/chart", {"images": []}, 400, "images"),
    ("/oculo/v1/compare", {"images": ["x"]}, 400, "images"),
])
def test_bad_task_requests_are_one_line_400s(served_terse, path, body, status, words):
    r = httpx.post(served_terse + path, json=body, timeout=60)
    assert r.status_code == status, r.text
    message = r.json()["error"]
    message = message["message"] if isinstance(message, dict) else message
    assert words in message and "\n" not in message
