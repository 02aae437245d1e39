"""The HTTP layer of `oculo serve`, spoken to by the official `ollama` and `openai` clients over real sockets.

These tests cover the protocol only, so the model is oculo.testing.FakeEngine with a script defined here:
deterministic text that echoes the prompt and the images it received. The end-to-end tests with a real (tiny transformers) model live
elsewhere.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Iterator

import httpx
import jsonschema
import ollama
import openai
import pytest
import uvicorn
from PIL import Image

from oculo.engines.base import Capabilities, Engine, Request
from oculo.errors import EngineError
from oculo.server import create_app
from oculo.testing import FakeEngine

SERVED = "scripted-vlm"
SCHEMA = {
    "type": "object",
    "properties": {"prompt": {"type": "string"}, "n_images": {"type": "integer"},
                   "sizes": {"type": "array", "items": {"type": "string"}}},
    "required": ["n_images", "sizes"],
    "additionalProperties": False,
}


class Script:
    """Answers "echo: <prompt> | images: N [WxH rgb(...)...]"; a schema gets a JSON object valid for it.

    Prompt keywords script failures: FAIL raises after two streamed chunks, BADJSON ignores the schema,
    BLOCK waits until `gate` is set, SLOW streams one piece per 20 ms (counted in the engine's `streamed`).
    """

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def reply(self, request: Request) -> str | dict:
        prompt = request.messages[-1].text
        if "BLOCK" in prompt:
            self.entered.set()
            assert self.gate.wait(20), "test never released the gate"
        images = [f"{i.image.width}x{i.image.height} rgb{i.image.getpixel((i.image.width // 2, i.image.height // 2))}"
                  for i in request.images]
        if request.schema is not None and "BADJSON" not in prompt:
            full = {"prompt": prompt, "n_images": len(images), "sizes": [s.split()[0] for s in images]}
            return {k: v for k, v in full.items() if k in request.schema.get("properties", full)}
        return f"echo: {prompt} | images: {len(images)} [{', '.join(images)}]"

    @staticmethod
    def on_piece(request: Request, i: int) -> None:
        if i == 2 and "FAIL" in request.messages[-1].text:
            raise EngineError("scripted engine failed mid-stream")
        if "SLOW" in request.messages[-1].text:
            time.sleep(0.02)


class ScriptedEngine(FakeEngine):
    def __init__(self) -> None:
        self.script = Script()
        self.gate, self.entered = self.script.gate, self.script.entered
        super().__init__(self.script.reply, model="org/scripted-vlm-1b", name="scripted",
                         capabilities=Capabilities(vision=True, max_images=4, parallel=1), on_piece=self.script.on_piece)


class Served:
    """The real app under uvicorn on a free port, in a background thread."""

    def __init__(self, engine: Engine, max_queue: int = 512) -> None:
        self.app = create_app(engine, SERVED, max_queue=max_queue)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def engine() -> ScriptedEngine:
    return ScriptedEngine()


@pytest.fixture(scope="module")
def server(engine: ScriptedEngine) -> Iterator[Served]:
    with Served(engine) as s:
        yield s


@pytest.fixture()
def oll(server: Served) -> ollama.Client:
    return ollama.Client(host=server.url, timeout=20)


@pytest.fixture()
def oai(server: Served) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0, timeout=20)


def png(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def red_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("img") / "red.png"
    path.write_bytes(png((64, 48), (255, 0, 0)))
    return str(path)


BLUE = png((40, 40), (0, 0, 255))
BLUE_URI = "data:image/png;base64," + base64.b64encode(BLUE).decode()


# --- Ollama ------------------------------------------------------------------------------------------------------
def test_discovery(server: Served, oll: ollama.Client) -> None:
    assert httpx.get(server.url).text == "oculo is running"
    import oculo

    assert httpx.get(f"{server.url}/api/version").json() == {"version": oculo.__version__}
    [model] = oll.list().models
    assert model.model == f"{SERVED}:latest" and model.details.format == "scripted"
    shown = oll.show(SERVED)
    assert shown.capabilities == ["completion", "vision"] and shown.modelinfo["general.basename"] == SERVED  # never the model's local path
    load = httpx.post(f"{server.url}/api/generate", json={"model": SERVED}).json()
    assert load["done"] and load["done_reason"] == "load"


@pytest.mark.parametrize("name", [SERVED, f"{SERVED}:latest", "org/scripted-vlm-1b"])
def test_model_aliases(oll: ollama.Client, name: str) -> None:
    assert oll.chat(model=name, messages=[{"role": "user", "content": "hi"}]).message.content == "echo: hi | images: 0 []"


def test_chat_images_from_path_and_bytes(oll: ollama.Client, red_path: str) -> None:
    r = oll.chat(model=SERVED, messages=[
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "what is this?", "images": [red_path, BLUE]},
    ])
    assert r.message.content == "echo: what is this? | images: 2 [64x48 rgb(255, 0, 0), 40x40 rgb(0, 0, 255)]"
    assert r.done and r.done_reason == "stop" and r.eval_count == len(r.message.content.split()) and r.prompt_eval_count == 3
    assert r.total_duration == 20_000_000 and r.eval_duration == 10_000_000


def test_chat_stream_matches_non_stream(oll: ollama.Client, red_path: str) -> None:
    msgs = [{"role": "user", "content": "describe", "images": [red_path]}]
    parts = list(oll.chat(model=SERVED, messages=msgs, stream=True))
    assert len(parts) > 3 and not any(p.done for p in parts[:-1])
    assert parts[-1].done and parts[-1].done_reason == "stop" and parts[-1].eval_count == len(parts) - 1
    whole = "".join(p.message.content for p in parts)
    assert whole == oll.chat(model=SERVED, messages=msgs).message.content


@pytest.mark.parametrize("stream", [False, True])
def test_chat_format_schema(oll: ollama.Client, red_path: str, stream: bool) -> None:
    out = oll.chat(model=SERVED, messages=[{"role": "user", "content": "count", "images": [red_path]}],
                   format=SCHEMA, stream=stream)
    text = "".join(p.message.content for p in out) if stream else out.message.content
    data = json.loads(text)
    jsonschema.validate(data, SCHEMA)
    assert data == {"prompt": "count", "n_images": 1, "sizes": ["64x48"]}


def test_format_json_and_options(oll: ollama.Client, engine: ScriptedEngine) -> None:
    r = oll.chat(model=SERVED, messages=[{"role": "user", "content": "x"}], format="json",
                 options={"temperature": 0.2, "seed": 7, "num_predict": 50, "stop": ["\n"], "top_p": 0.9, "num_ctx": 4096},
                 keep_alive="5m")
    assert isinstance(json.loads(r.message.content), dict)
    assert engine.last is not None and engine.last.schema == {"type": "object"}
    o = engine.last.options
    assert (o.max_tokens, o.temperature, o.seed, o.stop) == (50, 0.2, 7, ["\n"])
    assert o.extra == {"top_p": 0.9, "num_ctx": 4096, "keep_alive": "5m"}


def test_generate(oll: ollama.Client, engine: ScriptedEngine) -> None:
    r = oll.generate(model=SERVED, prompt="say a lot of words please", system="sys", images=[BLUE],
                     options={"num_predict": 3})
    assert r.response == "echo: say a " and r.done_reason == "length"
    assert [m.role for m in engine.last.messages] == ["system", "user"]  # type: ignore[union-attr]
    parts = list(oll.generate(model=SERVED, prompt="hello", stream=True))
    assert "".join(p.response for p in parts) == "echo: hello | images: 0 []" and parts[-1].done


def test_unknown_model_is_404(oll: ollama.Client, oai: openai.OpenAI) -> None:
    with pytest.raises(ollama.ResponseError) as e:
        oll.chat(model="llava", messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 404 and e.value.error == 'model "llava" not found, try pulling it first'
    with pytest.raises(ollama.ResponseError) as e:
        list(oll.chat(model="llava", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert e.value.status_code == 404
    with pytest.raises(openai.NotFoundError) as e2:
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert e2.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_bad_images_are_400(server: Served, oll: ollama.Client) -> None:
    r = httpx.post(f"{server.url}/api/chat", json={"model": SERVED, "stream": False, "messages": [
        {"role": "user", "content": "x", "images": ["!!!not base64"]}]})
    assert r.status_code == 400 and "\n" not in r.json()["error"]
    assert r.json()["error"].startswith("image 1 of message 1: invalid base64")
    with pytest.raises(ollama.ResponseError) as e:  # valid base64, not an image; streaming still gets a status
        list(oll.chat(model=SERVED, messages=[{"role": "user", "content": "x", "images": [b"plain text"]}], stream=True))
    assert e.value.status_code == 400 and "not an image" in e.value.error
    with pytest.raises(ollama.ResponseError) as e:  # more images than the engine takes: Unsupported
        oll.generate(model=SERVED, prompt="x", images=[BLUE] * 5)
    assert e.value.status_code == 400 and "at most 4" in e.value.error


def test_malformed_body_is_400(server: Served) -> None:
    r = httpx.post(f"{server.url}/api/chat", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"].startswith("invalid request: invalid JSON body (")
    r = httpx.post(f"{server.url}/v1/chat/completions", json={"model": SERVED})
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("invalid request: messages")


def test_mid_stream_error(server: Served, oll: ollama.Client) -> None:
    body = {"model": SERVED, "messages": [{"role": "user", "content": "FAIL now please"}]}
    with httpx.stream("POST", f"{server.url}/api/chat", json=body) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in r.iter_lines()]
    assert [line["message"]["content"] for line in lines[:2]] == ["echo: ", "FAIL "]
    assert lines[2:] == [{"error": "scripted engine failed mid-stream"}]
    received = []
    with pytest.raises(ollama.ResponseError, match="failed mid-stream"):
        for part in oll.chat(model=SERVED, messages=body["messages"], stream=True):
            received.append(part)
    assert len(received) == 2
    assert oll.chat(model=SERVED, messages=[{"role": "user", "content": "ok"}]).done  # the slot was released


def test_client_disconnect_stops_the_engine(server: Served, engine: ScriptedEngine) -> None:
    body = {"model": SERVED, "messages": [{"role": "user", "content": "SLOW" + " word" * 200}]}
    with httpx.stream("POST", f"{server.url}/api/chat", json=body) as r:
        next(r.iter_lines())
    deadline = time.monotonic() + 5
    while server.app.state.oculo.inflight:  # the slot comes back once the engine thread notices and stops
        assert time.monotonic() < deadline, "the engine kept streaming to a client that left"
        time.sleep(0.01)
    assert engine.streamed < 100


def test_schema_violation_returns_text(server: Served) -> None:
    r = httpx.post(f"{server.url}/api/chat", json={"model": SERVED, "stream": False, "format": SCHEMA,
                                                    "messages": [{"role": "user", "content": "BADJSON"}]})
    assert r.status_code == 200 and r.json()["message"]["content"].startswith("echo: BADJSON")
    assert "not valid JSON" in r.headers["x-oculo-schema-error"]


# --- OpenAI ------------------------------------------------------------------------------------------------------
def test_openai_models(oai: openai.OpenAI) -> None:
    assert [m.id for m in oai.models.list()] == [SERVED]


def test_openai_chat_data_uri(oai: openai.OpenAI, engine: ScriptedEngine) -> None:
    r = oai.chat.completions.create(model=SERVED, max_tokens=40, temperature=0, seed=1, stop="END", top_p=0.5, messages=[
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "what"}, {"type": "image_url", "image_url": {"url": BLUE_URI}}]},
    ])
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-")
    assert r.choices[0].message.content == "echo: what | images: 1 [40x40 rgb(0, 0, 255)]"
    assert r.choices[0].finish_reason == "stop" and r.usage.completion_tokens == 9 and r.usage.total_tokens == 10
    o = engine.last.options  # type: ignore[union-attr]
    assert (o.max_tokens, o.temperature, o.seed, o.stop, o.extra) == (40, 0, 1, ["END"], {"top_p": 0.5})
    assert engine.last.messages[0].role == "system"  # type: ignore[union-attr]


def test_openai_json_schema(oai: openai.OpenAI, engine: ScriptedEngine) -> None:
    r = oai.chat.completions.create(model=SERVED, messages=[{"role": "user", "content": [
        {"type": "text", "text": "count"}, {"type": "image_url", "image_url": {"url": BLUE_URI}}]}],
        response_format={"type": "json_schema", "json_schema": {"name": "count", "schema": SCHEMA, "strict": True}})
    assert json.loads(r.choices[0].message.content) == {"prompt": "count", "n_images": 1, "sizes": ["40x40"]}
    assert engine.last.schema_name == "count"  # type: ignore[union-attr]


def test_openai_stream_with_usage(oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(model=SERVED, stream=True, stream_options={"include_usage": True},
                                              max_completion_tokens=4, messages=[{"role": "user", "content": "a b c d e"}]))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: a b c "
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4


def test_openai_errors(server: Served, oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="invalid base64"):
        oai.chat.completions.create(model=SERVED, messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}]}])
    with pytest.raises(openai.APIError, match="failed mid-stream"):
        list(oai.chat.completions.create(model=SERVED, stream=True, messages=[{"role": "user", "content": "FAIL"}]))
    r = httpx.post(f"{server.url}/v1/chat/completions", json={"model": SERVED, "messages": [{"role": "tool", "content": "x"}]})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


# --- admission ---------------------------------------------------------------------------------------------------
def test_queue_full_is_503() -> None:
    engine = ScriptedEngine()
    engine.gate.clear()
    with Served(engine, max_queue=1) as s:
        client = ollama.Client(host=s.url, timeout=20)
        results: list[str] = []

        def ask(prompt: str) -> None:
            results.append(client.chat(model=SERVED, messages=[{"role": "user", "content": prompt}]).message.content)

        try:
            running = threading.Thread(target=ask, args=("BLOCK one",))
            running.start()
            assert engine.entered.wait(10)
            waiting = threading.Thread(target=ask, args=("two",))
            waiting.start()
            deadline = time.monotonic() + 10
            while s.app.state.oculo.inflight < 2:
                assert time.monotonic() < deadline, "second request never queued"
                time.sleep(0.01)
            with pytest.raises(ollama.ResponseError) as e:
                client.chat(model=SERVED, messages=[{"role": "user", "content": "three"}])
            assert e.value.status_code == 503
            assert e.value.error == "server busy, please try again.  maximum pending requests exceeded"
            with pytest.raises(openai.InternalServerError) as e2:
                openai.OpenAI(base_url=f"{s.url}/v1", api_key="x", max_retries=0).chat.completions.create(
                    model=SERVED, stream=True, messages=[{"role": "user", "content": "four"}])
            assert e2.value.status_code == 503
        finally:
            engine.gate.set()  # never leave a worker blocked, even when an assertion failed
        running.join(10)
        waiting.join(10)
        assert sorted(results) == ["echo: BLOCK one | images: 0 []", "echo: two | images: 0 []"]
        assert s.app.state.oculo.inflight == 0
