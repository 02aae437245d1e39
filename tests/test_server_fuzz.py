"""A property-based fuzz of the whole HTTP API: whatever a client sends, the answer is never a 5xx nor a hang,
errors come in the route's own shape, and the server stays up. Real app, real loopback HTTP, the tiny model
capped at a few tokens so valid requests stay cheap."""

from __future__ import annotations

import base64
import io
import json

import httpx
import pytest
from PIL import Image

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oculo.engines.base import Options
from oculo.server import ServeConfig

from .test_server_safety import SERVED, Served


def _png(w: int, h: int) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 120, 30)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


IMAGES = [_png(32, 32), "data:image/png;base64," + _png(20, 40), "!!", "", base64.b64encode(b"text").decode()]
scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


def ok(valid: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly well-typed values, sometimes anything: so valid requests are tried as well as broken ones."""
    return st.one_of(valid, valid, valid, json_values)


names = ok(st.sampled_from([SERVED, SERVED, f"{SERVED}:latest", "llava"]))
small_ints = st.integers(-3, 6)
option = st.fixed_dictionaries({}, optional={
    "num_predict": ok(small_ints), "temperature": ok(st.floats(-1, 3)),
    "top_p": ok(st.floats(-1, 2)), "seed": ok(st.integers(-5, 2**65)),
    "stop": st.text(max_size=3) | ok(st.lists(st.text(max_size=3), max_size=3)),
    "top_k": ok(small_ints)})
image_list = ok(st.lists(st.sampled_from(IMAGES), max_size=3))
schema = ok(st.sampled_from([{"type": "object"}, {"type": 5}, {"type": "object", "properties": {"a": {"type": "integer"}}},
                          {"enum": []}, {"$ref": "#/nope"}]))
ollama_message = st.fixed_dictionaries({"role": ok(st.sampled_from(["user", "system", "assistant", "tool"]))},
                                       optional={"content": ok(st.text(max_size=20)), "images": image_list})
part = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": ok(st.text(max_size=10))}),
    st.fixed_dictionaries({"type": st.just("image_url"), "image_url": st.fixed_dictionaries(
        {"url": st.sampled_from(["data:image/png;base64," + IMAGES[0], "data:x", "http://127.0.0.1:9/x", "ftp://x"])
         | json_values})}),
    json_values)
openai_message = st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "developer", "robot"])},
                                       optional={"content": st.text(max_size=20) | st.lists(part, max_size=3)})

BODIES = {
    "/api/chat": st.fixed_dictionaries({"model": names, "messages": ok(st.lists(ollama_message, max_size=3))}, optional={
        "options": ok(option),
        "stream": ok(st.booleans()), "format": st.just("json") | schema}),
    "/api/generate": st.fixed_dictionaries({"model": names}, optional={
        "prompt": ok(st.text(max_size=30)), "system": ok(st.text(max_size=10)),
        "images": image_list, "options": ok(option), "stream": ok(st.booleans()),
        "format": st.just("json") | schema}),
    "/v1/chat/completions": st.fixed_dictionaries({"model": names,
                                                   "messages": ok(st.lists(openai_message, min_size=1, max_size=3))},
                                                  optional={"max_tokens": ok(small_ints),
        "temperature": ok(st.floats(-0.2, 2.2)), "top_p": ok(st.floats(-0.1, 1.1)),
        "stream": ok(st.booleans()), "seed": ok(st.integers()),
        "stop": ok(st.text(max_size=3)), "n": ok(st.integers(0, 2)),
        "response_format": st.fixed_dictionaries({"type": st.sampled_from(["text", "json_object", "json_schema"])},
                                                  optional={"json_schema": st.fixed_dictionaries(
                                                      {"schema": schema})}) | json_values}),
    "/api/show": st.fixed_dictionaries({}, optional={"model": names, "name": names}),
    "/oculo/v1/screenshot": st.fixed_dictionaries({"images": image_list, "ocr": st.sampled_from(["none", "none", "x"])},
                                                  optional={"max_tokens": ok(small_ints)}),
}


@pytest.fixture(scope="module")
def fuzz_server(tiny_qwen):
    from oculo.engines.local import TransformersEngine

    engine = TransformersEngine(str(tiny_qwen), device="cpu")
    config = ServeConfig(defaults=Options(max_tokens=2), max_output_tokens=6)  # every valid request stays cheap
    with Served(engine, config) as s:
        yield s
    engine.close()


def _check(server: Served, path: str, raw: bytes) -> int:
    with httpx.stream("POST", server.url + path, content=raw, timeout=30) as r:
        body = r.read()
    assert r.status_code < 500, (path, raw[:300], r.status_code, body[:300])
    if r.status_code >= 400:
        err = json.loads(body)["error"]
        if path.startswith("/v1"):
            assert isinstance(err, dict) and {"message", "type", "param", "code"} <= set(err), body
        else:
            assert isinstance(err, str) and "\n" not in err, body
    return r.status_code


@pytest.mark.parametrize("path", list(BODIES))
def test_fuzzed_requests_never_get_a_5xx(fuzz_server, path):
    @settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(body=BODIES[path], junk=json_values, pick=st.integers(0, 9), raw=st.binary(max_size=40))
    def run(body, junk, pick, raw):
        sent = raw if pick == 9 else json.dumps(junk if pick == 8 else body).encode()  # now and then, not a body
        seen.add(_check(fuzz_server, path, sent) // 100)

    seen: set[int] = set()
    run()
    assert seen == {2, 4}, seen  # both refused and answered requests were tried
    assert httpx.get(fuzz_server.url + "/api/version").status_code == 200
    assert fuzz_server.runtime.inflight == 0
