"""The error contract: permanent failures fail at once, transient ones are retried with backoff; every message is
one line, names the input once, says the fix and shows no class name. Slivers a processor refuses are padded."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner
from PIL import Image

from oculo.batch.runner import Item, Result, run_items
from oculo.batch.store import Store
from oculo.cli import cli
from oculo.engines import ImagePart, Options, Request
from oculo.engines.ocr import TESSERACT_MISSING
from oculo.errors import (
    EngineBusy,
    EngineTimeout,
    EngineUnavailable,
    EngineUnreachable,
    InputError,
    NotInstalled,
    OculoError,
    SchemaViolation,
    Unsupported,
    is_transient,
)

# -- the two kinds ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("error,transient", [
    (EngineUnreachable("x"), True), (EngineBusy("x"), True), (EngineTimeout("x"), True),
    (NotInstalled("x"), False), (InputError("x"), False), (Unsupported("x"), False), (SchemaViolation("x"), False),
    (ValueError("x"), False),
])
def test_each_error_is_of_one_kind(error, transient):
    assert is_transient(error) is transient


def test_engine_unavailable_still_catches_both_meanings():
    # Older code that catches EngineUnavailable keeps working; only the transient half is retried.
    assert isinstance(NotInstalled("x"), EngineUnavailable) and isinstance(EngineUnreachable("x"), EngineUnavailable)


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    with Store(tmp_path / "jobs.sqlite3") as s:
        yield s


def _run(store: Store, raise_: list[BaseException | None], retries: int = 3):
    """Run one item through a work function that raises the listed errors in turn (None: succeeds)."""
    calls = []

    def work(payloads):
        calls.append(list(payloads))
        error = raise_[min(len(calls), len(raise_)) - 1]
        if error is not None:
            raise error
        return [Result({"ok": True}) for _ in payloads]

    summary = run_items([Item("k", "photo.jpg", None, b"x")], work, store=store, job_id=store.create_job("s"),
                        retries=retries, backoff_s=0.01)
    return summary, calls


@pytest.mark.parametrize("error", [EngineBusy("busy"), EngineUnreachable("down"), EngineTimeout("slow")])
def test_runner_retries_a_transient_error_until_it_passes(store, error):
    summary, calls = _run(store, [error, error, None])
    assert len(calls) == 3 and summary.done == 1 and summary.results[0].attempts == 3


@pytest.mark.parametrize("error", [
    NotInstalled(TESSERACT_MISSING), InputError("photo.jpg: file is empty (0 bytes); pass a real image"),
    Unsupported("model 'm': the processor rejected the image (too thin); crop or resize the image"),
    ValueError("absolute aspect ratio must be smaller than 200"),
])
def test_runner_never_retries_a_permanent_error(store, error):
    summary, calls = _run(store, [error])
    result = summary.results[0]
    assert len(calls) == 1 and summary.failed == 1 and result.attempts == 1
    assert "\n" not in result.error and type(error).__name__ not in result.error
    assert "photo.jpg" not in result.error  # the item's source is printed beside it: the name appears once


def test_runner_gives_up_on_a_transient_error_after_its_retries(store):
    summary, calls = _run(store, [EngineBusy("the server at http://127.0.0.1:1 stayed busy (HTTP 503)")], retries=2)
    assert len(calls) == 3 and summary.failed == 1
    assert summary.results[0].error == "the server at http://127.0.0.1:1 stayed busy (HTTP 503)"


# -- a real 503 over loopback -------------------------------------------------------------------------------------


class _Busy:
    """A loopback HTTP server that answers chat requests 503 `busy` times, then like Ollama or llama-server."""

    def __init__(self, busy: int) -> None:
        self.busy, self.chat_calls = busy, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/api/show":
                    return self._send(200, json.dumps({"capabilities": ["completion", "vision"]}).encode())
                outer.chat_calls += 1
                if outer.chat_calls <= outer.busy:
                    return self._send(503, b'{"error":"server busy, please try again"}')
                if self.path == "/api/chat":
                    return self._send(200, json.dumps({"message": {"content": "ok"}, "done": True,
                                                       "eval_count": 1}).encode())
                sse = (b'data: {"choices":[{"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\n'
                       b"data: [DONE]\n\n")
                return self._send(200, sse, "text/event-stream")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Busy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_503_from_ollama_is_retried_by_the_runner(store, monkeypatch):
    from oculo.engines.ollama import OllamaEngine

    monkeypatch.setenv("OCULO_RETRIES", "1")  # no retry inside the engine: the runner's own retry must do it
    with _Busy(busy=2) as server, OllamaEngine("m", host=server.url) as engine:
        def work(payloads):
            return [Result({"text": r.text}) for r in engine.generate([Request.simple(p) for p in payloads])]

        summary = run_items([Item("k", "q", None, "hi")], work, store=store, job_id=store.create_job("s"),
                            backoff_s=0.01)
    assert server.chat_calls == 3 and summary.done == 1
    assert summary.results[0].output == {"text": "ok"} and summary.results[0].attempts == 3


def test_a_503_from_an_openai_server_is_retried_by_the_engine(monkeypatch):
    from oculo.engines.openai import OpenAIEngine

    monkeypatch.setenv("OCULO_RETRIES", "3")
    with _Busy(busy=2) as server, OpenAIEngine("m", base_url=server.url + "/v1") as engine:
        reply = engine.generate([Request.simple("hi")])[0]
    assert reply.text == "ok" and server.chat_calls == 3


def test_a_server_that_stays_busy_fails_with_one_transient_line(monkeypatch):
    from oculo.engines.ollama import OllamaEngine

    monkeypatch.setenv("OCULO_RETRIES", "2")
    with _Busy(busy=99) as server, OllamaEngine("m", host=server.url) as engine, pytest.raises(EngineBusy) as ei:
        engine.generate([Request.simple("hi")])
    message = str(ei.value)
    assert is_transient(ei.value) and "\n" not in message and "HTTP 503" in message and "try again later" in message


def test_nothing_listening_is_transient_and_names_no_class():
    from oculo.engines.ollama import OllamaEngine

    with OllamaEngine("m", host="127.0.0.1:9") as engine, pytest.raises(EngineUnreachable) as ei:
        engine.generate([Request.simple("hi")])
    assert is_transient(ei.value) and "ConnectError" not in str(ei.value) and "ollama serve" in str(ei.value)


# -- not installed ------------------------------------------------------------------------------------------------


def _cli_runner() -> CliRunner:
    return CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()


def test_missing_tesseract_fails_once_with_one_line(tmp_path, monkeypatch):
    import oculo.engines.ocr as ocr_engines

    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no tesseract on PATH
    monkeypatch.setattr(ocr_engines, "_CACHE", {})  # an engine made by an earlier test must not hide the lack
    page = tmp_path / "page.png"
    Image.new("RGB", (200, 80), "white").save(page)
    db = tmp_path / "jobs.sqlite3"
    res = _cli_runner().invoke(cli, ["ocr", str(page), "--engine", "tesseract", "--store", str(db)])
    assert res.exit_code == 1
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("oculo: error:")]
    # The engine opens before the job starts, so a missing program fails the command once, not once per page.
    assert errors == [f"oculo: error: {TESSERACT_MISSING}"]  # one line, the fix, no class name
    with Store(db) as store:
        assert store.jobs() == []  # nothing ran, nothing was retried


# -- shapes a processor refuses -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_engine(tiny_qwen):
    from oculo.engines.local import TransformersEngine

    # The tiny model's processor keeps 50,176 pixels; a 1 MP budget (-o max_pixels) keeps the sliver's length.
    with TransformersEngine(str(tiny_qwen), device="cpu", max_pixels=1024 * 1024) as engine:
        yield engine


def _sliver(w: int = 8000, h: int = 20) -> Image.Image:
    img = Image.new("RGB", (w, h), "white")
    img.paste((0, 0, 0), (0, 0, w // 2, h))
    return img


def test_a_sliver_is_padded_and_answered(tiny_engine):
    from oculo.media.images import ImageLimits, decode, encode

    limits = ImageLimits.from_capabilities(tiny_engine.capabilities())
    part = ImagePart(decode(encode(_sliver(), "png")[0], "sliver.png", limits), "sliver.png")
    assert part.image.size == (8000, 40)  # the short side padded to 1/200 of the long side
    assert part.image.getpixel((10, 0)) == (255, 255, 255) and part.image.getpixel((10, 20)) == (0, 0, 0)
    reply = tiny_engine.generate([Request.simple("describe", [part], options=Options(max_tokens=4))])[0]
    assert reply.error is None and reply.stats.generated_tokens


def test_a_refused_shape_is_permanent_and_fails_alone_in_its_batch(tiny_engine):
    raw = ImagePart(_sliver(), "raw.png")  # not padded: the processor refuses it
    ok = ImagePart(Image.new("RGB", (64, 64), "red"), "ok.png")
    opts = Options(max_tokens=4)
    with pytest.raises(Unsupported) as ei:
        tiny_engine.generate([Request.simple("describe", [raw], options=opts)])
    assert not is_transient(ei.value) and "aspect ratio" in str(ei.value) and "\n" not in str(ei.value)
    bad, good = tiny_engine.generate([Request.simple("describe", [raw], options=opts),
                                      Request.simple("describe", [ok], options=opts)])
    assert bad.error and "aspect ratio" in bad.error and good.error is None and good.stats.generated_tokens


# -- the whole command: name once, one line per failure -----------------------------------------------------------


@pytest.mark.slow
def test_cli_names_an_empty_file_once_and_answers_a_sliver(tiny_qwen, tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    wide = tmp_path / "wide.png"
    _sliver().save(wide)
    res = _cli_runner().invoke(cli, ["describe", str(empty), str(wide), "--engine", "transformers", "-m", str(tiny_qwen),
                              "--max-tokens", "4", "--store", str(tmp_path / "jobs.sqlite3"), "--json"])
    assert res.exit_code == 1, res.output
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("oculo: error:")]
    assert errors == [f"oculo: error: {empty}: file is empty (0 bytes); pass a real image"]
    records = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
    answered = [r for r in records if r.get("source") == str(wide)]
    assert answered and not answered[0].get("error") and answered[0]["stats"]["generated_tokens"]


def test_oculo_errors_print_without_a_class_name(store):
    summary, _ = _run(store, [OculoError("")])
    assert summary.results[0].error == "failed"
    summary, _ = _run(store, [KeyError("k")])
    assert summary.results[0].error.startswith("unexpected failure ('k')") and "KeyError" not in summary.results[0].error


def test_an_error_about_another_name_is_kept_whole(store):
    summary, _ = _run(store, [InputError("other.jpg: no such file; check the path")])
    assert summary.results[0].error == "other.jpg: no such file; check the path"
