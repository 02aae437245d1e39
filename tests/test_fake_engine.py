"""oculo.testing.FakeEngine: the scripted engine tests use instead of a model."""

from __future__ import annotations

import jsonschema
import pytest

from oculo.engines import Capabilities, Engine, ImagePart, Options, Request
from oculo.errors import EngineError, Unsupported
from oculo.schemas import Invoice, Receipt
from oculo.schemas.chart import Chart
from oculo.schemas.screens import BugReport, ScreenReading
from oculo.testing import FakeEngine, make_image, schema_instance

from .conftest import BOUNDED_SCHEMA


def _img(i: int = 0) -> ImagePart:
    return ImagePart(make_image(16, 16, seed=i), f"img{i}.png")


def test_default_answer_echoes_and_records():
    eng = FakeEngine()
    assert isinstance(eng, Engine)
    [reply] = eng.generate([Request.simple("hello there", [_img()])])
    assert (reply.text, reply.model, reply.engine, reply.finish_reason) == ("echo: hello there", "fake-model", "fake", "stop")
    assert (reply.stats.prompt_tokens, reply.stats.generated_tokens, reply.stats.total_s) == (2, 3, 0.02)
    assert len(eng.requests) == 1 and eng.last is eng.requests[0] and len(eng.last.images) == 1
    assert eng.batches == [[eng.last]] and eng.calls == 1


def test_a_list_is_answered_in_order_and_runs_out_loudly():
    eng = FakeEngine(["one", {"a": 1}, FakeEngine.failed("bad item"), None])
    replies = eng.generate([Request.simple(p) for p in ("p1", "p2", "p3", "p4")])
    assert [r.text for r in replies] == ["one", '{"a": 1}', "", "echo: p4"]
    assert [r.error for r in replies] == [None, None, "bad item", None]
    assert replies[2].engine == "fake" and replies[2].model == "fake-model"
    with pytest.raises(AssertionError, match="no scripted reply left"):
        eng.generate([Request.simple("p5")])


def test_a_function_answers_each_request():
    eng = FakeEngine(lambda r: f"{len(r.images)} images", model="m", name="scripted")
    [a, b] = eng.generate([Request.simple("x", [_img(), _img(1)]), Request.simple("y")])
    assert (a.text, b.text, a.engine, a.model) == ("2 images", "0 images", "scripted", "m")


@pytest.mark.parametrize("schema", [BOUNDED_SCHEMA, Invoice.model_json_schema(), Receipt.model_json_schema(),
                                    Chart.model_json_schema(), ScreenReading.model_json_schema(),
                                    BugReport.model_json_schema()], ids=lambda s: s.get("title", "bounded"))
def test_schema_requests_get_valid_json(schema):
    jsonschema.validate(schema_instance(schema), schema)
    [reply] = FakeEngine().generate([Request.simple("fill", schema=schema)])
    assert reply.error is None
    jsonschema.validate(reply.data, schema)


def test_a_scripted_string_is_sent_as_is_even_with_a_schema():
    [reply] = FakeEngine(["not json"]).generate([Request.simple("fill", schema=BOUNDED_SCHEMA)])
    assert reply.text == "not json" and reply.data is None and "not valid JSON" in reply.error


def test_max_tokens_cuts_one_word_per_token():
    [reply] = FakeEngine(["a b c d e"]).generate([Request.simple("x", options=Options(max_tokens=3))])
    assert (reply.text, reply.finish_reason, reply.stats.generated_tokens) == ("a b c ", "length", 3)


def test_streaming_yields_words_then_the_reply():
    eng = FakeEngine(["a b c"])
    chunks = list(eng.stream(Request.simple("x")))
    assert [c.text for c in chunks] == ["a ", "b ", "c", ""] and chunks[-1].reply.text == "a b c"
    assert eng.streamed == 3 and eng.calls == 1
    without = FakeEngine(["a b c"], capabilities=Capabilities(streaming=False))
    chunks = list(without.stream(Request.simple("x")))
    assert [c.text for c in chunks] == ["a b c", ""] and without.batches  # answered through generate


def test_injected_errors():
    with pytest.raises(EngineError, match="down"):
        FakeEngine(error=EngineError("down")).generate([Request.simple("x")])
    with pytest.raises(EngineError, match="scripted"):
        FakeEngine([EngineError("scripted")]).generate([Request.simple("x")])

    def fail_third(request, i):
        if i == 2:
            raise EngineError("mid-stream")

    eng = FakeEngine(["a b c d"], on_piece=fail_third)
    got = []
    with pytest.raises(EngineError, match="mid-stream"):
        for chunk in eng.stream(Request.simple("x")):
            got.append(chunk.text)
    assert got == ["a ", "b "]


def test_capabilities_are_enforced_like_any_engine():
    eng = FakeEngine(capabilities=Capabilities(vision=False, schema=False))
    with pytest.raises(Unsupported, match="cannot see images"):
        eng.generate([Request.simple("x", [_img()])])
    with pytest.raises(Unsupported, match="JSON schema"):
        eng.generate([Request.simple("x", schema=BOUNDED_SCHEMA)])
    assert eng.requests == []
    with FakeEngine() as e:
        pass
    assert e.closed
