"""Wire-level edge cases of the Ollama and OpenAI engines.

These use httpx.MockTransport to replay what a real Ollama or llama-server sends in situations our own
`oculo serve` cannot be made to produce on demand (a 503 queue-full burst, a 404 for an unpulled model,
an error line after HTTP 200, a model without vision). No Ollama can run here; the happy paths are tested
end to end over real HTTP in test_e2e_serve.py.
"""

from __future__ import annotations

import base64
import io
import json

import httpx
import pytest
from PIL import Image

from oculo.engines import ImagePart, Options, Request
from oculo.engines.ollama import OllamaEngine, ollama_host
from oculo.engines.openai import OpenAIEngine
from oculo.errors import EngineError, EngineUnreachable, ModelNotFound, Unsupported

SHOW_VISION = {"capabilities": ["completion", "vision"], "details": {"family": "qwen25vl"}}


def _img(w: int = 40, h: int = 30) -> ImagePart:
    return ImagePart(Image.new("RGB", (w, h), (200, 30, 30)), "red.png")


def _final(**kw):
    base = {"model": "m", "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop",
            "total_duration": 2_000_000_000, "load_duration": 500_000_000, "prompt_eval_count": 12,
            "prompt_eval_duration": 250_000_000, "eval_count": 3, "eval_duration": 1_000_000_000}
    base.update(kw)
    return base


def _ndjson(*objs) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


class Recorder:
    """Answers like Ollama and keeps what was sent, so tests can assert on the wire format."""

    def __init__(self, chat_responses, show=SHOW_VISION, show_status=200):
        self.chat_responses = list(chat_responses)
        self.show, self.show_status = show, show_status
        self.chat_bodies: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/show":
            return httpx.Response(self.show_status, json=self.show if self.show_status == 200
                                  else {"error": "model 'm' not found"})
        assert request.url.path == "/api/chat"
        sent = json.loads(request.content)
        self.chat_bodies.append(sent)
        status, body = self.chat_responses.pop(0)
        if status == 200 and not sent.get("stream", True):
            # What Ollama does for stream: false: one object, the content joined, the final stats.
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            if any("error" in o for o in lines):
                return httpx.Response(500, json={"error": next(o["error"] for o in lines if "error" in o)})
            merged = dict(lines[-1])
            merged["message"] = {"role": "assistant",
                                 "content": "".join((o.get("message") or {}).get("content", "") for o in lines)}
            return httpx.Response(200, json=merged)
        return httpx.Response(status, content=body, headers={"content-type": "application/x-ndjson"})


def _ollama(rec: Recorder, **kw) -> OllamaEngine:
    return OllamaEngine("m", host="127.0.0.1:1", transport=httpx.MockTransport(rec), **kw)


def test_ollama_payload_images_raw_base64_schema_and_options():
    rec = Recorder([(200, _ndjson({"message": {"content": "{\"a\":"}, "done": False},
                                  _final(message={"content": "1}"})))])
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    req = Request.simple("count", [_img()], system="be brief",
                         options=Options(max_tokens=20, temperature=0.0, seed=7, stop=["\n\n"],
                                         extra={"num_ctx": 8192, "keep_alive": "5m"}), schema=schema)
    reply = _ollama(rec).generate([req])[0]
    body = rec.chat_bodies[0]
    img_b64 = body["messages"][1]["images"][0]
    assert not img_b64.startswith("data:")
    assert Image.open(io.BytesIO(base64.b64decode(img_b64))).size == (40, 30)
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    assert body["format"] == schema
    assert body["options"] == {"temperature": 0.0, "seed": 7, "num_predict": 20, "stop": ["\n\n"], "num_ctx": 8192}
    assert body["keep_alive"] == "5m" and "keep_alive" not in body["options"]
    assert reply.text == '{"a":1}' and reply.data == {"a": 1} and reply.error is None
    assert reply.stats.prompt_tokens == 12 and reply.stats.generated_tokens == 3
    assert reply.stats.total_s == pytest.approx(2.0) and reply.stats.load_s == pytest.approx(0.5)
    assert reply.stats.ttft_s == pytest.approx(0.75)  # load + prompt evaluation, from nanoseconds


def test_ollama_error_line_mid_stream_under_200_raises():
    rec = Recorder([(200, _ndjson({"message": {"content": "The"}, "done": False},
                                  {"error": "an error was encountered while running the model: CUDA error"}))])
    eng = _ollama(rec)
    chunks = eng.stream(Request.simple("hi", [_img()]))
    assert next(chunks).text == "The"
    with pytest.raises(EngineError, match="CUDA error"):
        next(chunks)


def test_ollama_503_is_retried_with_backoff(monkeypatch):
    monkeypatch.setenv("OCULO_RETRIES", "4")
    busy = (503, b'{"error":"server busy, please try again.  maximum pending requests exceeded"}')
    rec = Recorder([busy, busy, (200, _ndjson(_final(message={"content": "ok"})))])
    reply = _ollama(rec).generate([Request.simple("hi", [_img()])])[0]
    assert reply.text == "ok" and len(rec.chat_bodies) == 3


def test_ollama_503_gives_up_after_the_retry_budget(monkeypatch):
    monkeypatch.setenv("OCULO_RETRIES", "2")
    busy = (503, b'{"error":"server busy"}')
    rec = Recorder([busy, busy, busy])
    with pytest.raises(EngineError, match=r"stayed busy \(HTTP 503\)") as ei:
        _ollama(rec).generate([Request.simple("hi", [_img()])])
    assert len(rec.chat_bodies) == 2 and "\n" not in str(ei.value)


def test_ollama_unpulled_model_says_how_to_pull():
    rec = Recorder([], show_status=404)
    with pytest.raises(ModelNotFound, match=r"ollama pull m"):
        _ollama(rec).generate([Request.simple("hi", [_img()])])


def test_ollama_refuses_images_for_a_model_without_vision():
    rec = Recorder([], show={"capabilities": ["completion"]})
    with pytest.raises(Unsupported, match="no vision capability"):
        _ollama(rec).generate([Request.simple("hi", [_img()])])
    assert rec.chat_bodies == []  # refused before anything was sent


def test_ollama_text_only_request_allowed_without_vision():
    rec = Recorder([(200, _ndjson(_final(message={"content": "hello"})))], show={"capabilities": ["completion"]})
    assert _ollama(rec).generate([Request.simple("hi")])[0].text == "hello"


def test_ollama_schema_violation_marks_only_that_item():
    rec = Recorder([(200, _ndjson(_final(message={"content": '{"a": "x"}'}))),
                    (200, _ndjson(_final(message={"content": '{"a": 2}'})))])
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    replies = _ollama(rec).generate([Request.simple("1", schema=schema), Request.simple("2", schema=schema)])
    assert replies[0].error and "at a" in replies[0].error and replies[0].data is None
    assert replies[1].error is None and replies[1].data == {"a": 2}


def test_ollama_unreachable_is_one_line():
    eng = OllamaEngine("m", host="127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(EngineUnreachable) as ei:
        eng.generate([Request.simple("hi")])
    assert "\n" not in str(ei.value) and "ollama serve" in str(ei.value)


@pytest.mark.parametrize("given,expected", [
    (None, "http://127.0.0.1:11434"), ("0.0.0.0", "http://127.0.0.1:11434"),
    ("example.local:9999", "http://example.local:9999"), ("https://gpu.box", "https://gpu.box:11434"),
    ("http://[::1]:11500", "http://[::1]:11500"),
])
def test_ollama_host_forms(monkeypatch, given, expected):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert ollama_host(given) == expected


# ---- OpenAI-compatible ----------------------------------------------------------------------------

def _sse(*objs) -> bytes:
    return b"".join(b"data: " + json.dumps(o).encode() + b"\n\n" for o in objs) + b"data: [DONE]\n\n"


def test_openai_payload_nested_json_schema_and_data_uri():
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        assert request.headers["authorization"] == "Bearer sk-local"
        body = _sse({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "{\"a\""}}]},
                    {"choices": [{"index": 0, "delta": {"content": ":3}"}, "finish_reason": "stop"}]},
                    {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}})
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    eng = OpenAIEngine("m", base_url="http://127.0.0.1:1/v1", api_key="sk-local",
                       transport=httpx.MockTransport(handler))
    reply = eng.generate([Request.simple("n?", [_img()], options=Options(max_tokens=8, seed=1), schema=schema)])[0]
    body = seen[0]
    rf = body["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["schema"] == schema and "schema" not in rf
    part = body["messages"][0]["content"][0]
    assert part["type"] == "image_url" and part["image_url"]["url"].startswith("data:image/")
    assert body["max_tokens"] == 8 and body["seed"] == 1 and body["stream_options"] == {"include_usage": True}
    assert reply.data == {"a": 3} and reply.stats.prompt_tokens == 9 and reply.stats.generated_tokens == 4


def test_openai_404_and_error_event():
    def handler(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["model"] == "missing":
            return httpx.Response(404, json={"error": {"message": "model not found", "type": "not_found"}})
        return httpx.Response(200, content=b'data: {"error": {"message": "out of memory"}}\n\n',
                              headers={"content-type": "text/event-stream"})

    t = httpx.MockTransport(handler)
    with pytest.raises(ModelNotFound, match="does not serve model 'missing'"):
        OpenAIEngine("missing", base_url="http://x/v1", transport=t).generate([Request.simple("hi")])
    with pytest.raises(EngineError, match="out of memory"):
        OpenAIEngine("m", base_url="http://x/v1", transport=t).generate([Request.simple("hi")])


def test_engine_refuses_too_many_images():
    eng = OpenAIEngine("m", base_url="http://x/v1", max_images=1,
                       transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    with pytest.raises(Unsupported, match="at most 1 image"):
        eng.generate([Request.simple("compare", [_img(), _img()])])


def test_user_image_budget_overrides_the_engine_default(tmp_path):
    from oculo.api import load_images

    path = tmp_path / "big.png"
    Image.new("RGB", (400, 300), (1, 2, 3)).save(path)
    rec = Recorder([(200, _ndjson(_final(message={"content": "ok"})))])
    eng = _ollama(rec, max_pixels=3000)
    assert eng.capabilities().max_pixels == 3000 and eng.capabilities().vision
    parts = load_images([str(path)], eng)
    eng.generate([Request.simple("hi", parts)])
    sent = Image.open(io.BytesIO(base64.b64decode(rec.chat_bodies[0]["messages"][0]["images"][0])))
    assert sent.width * sent.height <= 3000 and abs(sent.width / sent.height - 4 / 3) < 0.1


@pytest.mark.parametrize("tag,max_images,per_message,max_pixels", [
    ("llava:7b", 1, None, 672 * 672),
    ("llama3.2-vision", None, 1, None),
    ("moondream", 1, None, 378 * 378),
])
def test_catalog_limits_reach_the_engine(tag, max_images, per_message, max_pixels):
    rec = Recorder([])
    eng = OllamaEngine(tag, host="127.0.0.1:1", transport=httpx.MockTransport(rec), parallel=4)
    caps = eng.capabilities()
    if max_images is not None:
        assert caps.max_images == max_images
    assert caps.images_per_message == per_message
    if max_pixels is not None:
        assert caps.max_pixels == max_pixels
    if tag.startswith("llama3.2-vision"):
        assert caps.parallel == 1  # Ollama's mllama runner takes no parallel requests
        with pytest.raises(Unsupported, match="at most 1 image"):
            eng.generate([Request.simple("compare", [_img(), _img()])])
    if max_images == 1:
        with pytest.raises(Unsupported, match="at most 1 image"):
            eng.generate([Request.simple("compare", [_img(), _img()])])


def test_images_per_message_limit_is_checked_per_message():
    from oculo.engines import Message
    from oculo.engines.base import Capabilities
    from oculo.testing import FakeEngine

    eng = FakeEngine(capabilities=Capabilities(images_per_message=1))
    two_in_one = Request([Message("user", "compare", [_img(), _img()])])
    with pytest.raises(Unsupported, match="per message"):
        eng.generate([two_in_one])
    assert eng.requests == []  # refused before it reached the backend
    eng.check(Request([Message("user", "a", [_img()]), Message("assistant", "ok"), Message("user", "b", [_img()])]))
