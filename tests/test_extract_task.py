"""The extraction task's own rules: bounded retries, keeping a schema-valid record, merging pages."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, field_validator

from oculo.engines import ImagePart, Options, Stats
from oculo.engines.local import TransformersEngine
from oculo.tasks.extract import TEMPERATURES, _ask_valid, merge_records
from oculo.testing import make_image


class Never(BaseModel):
    label: str = Field(max_length=8)

    @field_validator("label")
    @classmethod
    def _reject(cls, v: str) -> str:
        raise ValueError("never good enough")


class Anything(BaseModel):
    label: str = Field(max_length=8)


@pytest.fixture(scope="module")
def engine(tiny_qwen):
    return TransformersEngine(str(tiny_qwen))


@pytest.mark.slow
def test_retries_are_bounded_and_keep_the_schema_valid_record(engine):
    schema = Never.model_json_schema()
    stats = Stats()
    data, error, attempts = _ask_valid(engine, "fill", [ImagePart(make_image(64, 48))], schema, Never,
                                       Options(max_tokens=40), stats, attempts=len(TEMPERATURES))
    assert attempts == len(TEMPERATURES) == 4
    assert "never good enough" in error
    assert isinstance(data, dict) and len(data["label"]) <= 8  # schema-valid, so reported with warnings, not lost
    assert stats.generated_tokens > 0


@pytest.mark.slow
def test_a_valid_answer_stops_retrying(engine):
    data, error, attempts = _ask_valid(engine, "fill", [ImagePart(make_image(64, 48))],
                                       Anything.model_json_schema(), Anything, Options(max_tokens=40), Stats(), 4)
    assert error is None and attempts == 1 and set(data) == {"label"}


def test_merge_records_keeps_page_order():
    merged = merge_records([{"vendor": None, "total": None, "line_items": [{"d": "a"}]},
                            {"vendor": "ACME", "total": 10.0, "line_items": [{"d": "b"}]},
                            {"vendor": "Other", "total": 99.0, "line_items": []}])
    assert merged == {"vendor": "ACME", "total": 10.0, "line_items": [{"d": "a"}, {"d": "b"}]}
