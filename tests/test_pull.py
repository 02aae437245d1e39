"""`oculo pull`: Ollama's streamed pull and the Hugging Face download, including offline failures.

Ollama cannot run here, so its /api/pull stream is replayed exactly as Ollama sends it (status lines, then
per-layer digest/total/completed, then success, or an error line): through httpx.MockTransport for the client,
and by a loopback HTTP server for `oculo pull` end to end.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from click.testing import CliRunner

from oculo.cli import cli
from oculo.engines.pull import PullEvent, hf_pull, ollama_pull
from oculo.errors import EngineError, ModelNotFound

from .conftest import cli_env, oculo


def _stream(*objs) -> httpx.MockTransport:
    body = b"".join(json.dumps(o).encode() + b"\n" for o in objs)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/pull"
        assert json.loads(request.content) == {"model": "moondream", "stream": True}
        return httpx.Response(200, content=body, headers={"content-type": "application/x-ndjson"})
    return httpx.MockTransport(handler)


def test_ollama_pull_reports_layer_progress_and_success():
    d = "sha256:e554c6b9de016673fd2c732e0342967727e9659ca5f853a4947cc96263fa602b"
    t = _stream({"status": "pulling manifest"},
                {"status": f"pulling {d[7:19]}", "digest": d, "total": 1000},
                {"status": f"pulling {d[7:19]}", "digest": d, "total": 1000, "completed": 400},
                {"status": f"pulling {d[7:19]}", "digest": d, "total": 1000, "completed": 1000},
                {"status": "verifying sha256 digest"}, {"status": "writing manifest"}, {"status": "success"})
    events: list[PullEvent] = []
    ollama_pull("moondream", host="127.0.0.1:1", on_event=events.append, transport=t)
    layer = [e for e in events if e.digest]
    assert [e.completed for e in layer] == [None, 400, 1000] and layer[0].total == 1000
    assert events[-1].status == "success"


def test_ollama_pull_offline_is_one_line():
    t = _stream({"status": "pulling manifest"},
                {"error": 'pull model manifest: Get "https://registry.example/v2/library/moondream/manifests/latest":'
                          " dial tcp: lookup registry.example: no such host"})
    with pytest.raises(EngineError) as ei:
        ollama_pull("moondream", host="127.0.0.1:1", transport=t)
    assert "offline" in str(ei.value) and "\n" not in str(ei.value)


def test_ollama_pull_unknown_tag():
    t = _stream({"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"})
    with pytest.raises(ModelNotFound, match="no model 'moondream'"):
        ollama_pull("moondream", host="127.0.0.1:1", transport=t)


def test_ollama_pull_without_success_is_an_error():
    with pytest.raises(EngineError, match="without success"):
        ollama_pull("moondream", host="127.0.0.1:1", transport=_stream({"status": "pulling manifest"}))


def test_hf_pull_offline_is_one_line(tmp_path):
    # The real hub client, pointed at a closed local port: what a machine without a network sees.
    with pytest.raises(EngineError) as ei:
        hf_pull("HuggingFaceTB/SmolVLM-256M-Instruct", cache_dir=str(tmp_path), endpoint="http://127.0.0.1:9")
    assert "offline" in str(ei.value) and "\n" not in str(ei.value)


@pytest.mark.slow
def test_cli_pull_offline_in_process(tmp_path):
    proc = oculo("pull", "smolvlm-256m", "--engine", "transformers", env=cli_env(HF_HUB_CACHE=str(tmp_path), HF_ENDPOINT="http://127.0.0.1:9"))
    err = proc.stderr.decode().strip()
    assert proc.returncode == 1 and len(err.splitlines()) == 1 and "offline" in err


@pytest.mark.slow
def test_cli_pull_through_unreachable_ollama_is_one_line():
    proc = oculo("pull", "moondream2", "--engine", "ollama", env=cli_env(OLLAMA_HOST="127.0.0.1:9"))
    err = proc.stderr.decode().strip()
    assert proc.returncode == 1 and len(err.splitlines()) == 1 and "ollama serve" in err


# --- `oculo pull` against a loopback server that speaks Ollama's /api/pull (NDJSON), as Ollama does ---------


class _FakeOllama(BaseHTTPRequestHandler):
    """Stands in for Ollama: answers POST /api/pull with its NDJSON progress stream, recording what was asked."""

    pulled: list[str]

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.pulled.append(body["model"])
        d = "sha256:" + "ab" * 32
        lines = [{"status": "pulling manifest"}, {"status": f"pulling {d[7:19]}", "digest": d, "total": 10},
                 {"status": f"pulling {d[7:19]}", "digest": d, "total": 10, "completed": 10},
                 {"status": "verifying sha256 digest"}, {"status": "writing manifest"}, {"status": "success"}]
        if self.path != "/api/pull":
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.end_headers()
        for obj in lines:
            self.wfile.write(json.dumps(obj).encode() + b"\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_ollama():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOllama)
    server.pulled = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _pull(*args: str, host: str):
    return CliRunner().invoke(cli, ["pull", *args], env={"OLLAMA_HOST": host, "HF_ENDPOINT": "http://127.0.0.1:9",
                                                         "HF_HUB_OFFLINE": "1"})


@pytest.mark.parametrize("name, tag", [
    ("moondream", "moondream"), ("llava:13b", "llava:13b"), ("minicpm-v", "minicpm-v"),
    ("llama3.2-vision", "llama3.2-vision"), ("qwen2.5vl:7b", "qwen2.5vl:7b"),
    ("moondream2", "moondream"), ("llava-1.6-13b", "llava:13b"), ("minicpm-v-2.6", "minicpm-v"),
    ("Qwen/Qwen2.5-VL-7B-Instruct", "qwen2.5vl:7b"),  # a Hugging Face name of a model Ollama has
    ("bakllava", "bakllava"),  # a tag the catalog does not know goes to Ollama as given
])
def test_pull_sends_ollamas_own_tag_to_ollama(fake_ollama, name, tag):
    host = f"127.0.0.1:{fake_ollama.server_address[1]}"
    r = _pull(name, host=host)
    assert r.exit_code == 0, r.output
    assert fake_ollama.pulled == [tag]
    assert f"pulled {tag} into Ollama" in r.output and f"-m {tag}" in r.output


@pytest.mark.parametrize("name, instead", [
    ("qwen2-vl-7b", "qwen2.5vl:7b"), ("smolvlm-500m", "moondream"), ("internvl2.5-8b", "qwen2.5vl:7b"),
    ("google/paligemma2-3b-mix-448", "gemma3:4b"),
])
def test_a_model_without_an_ollama_build_names_the_tag_to_use_instead(fake_ollama, name, instead):
    r = _pull(name, host=f"127.0.0.1:{fake_ollama.server_address[1]}")
    assert r.exit_code == 1 and fake_ollama.pulled == []
    msg = r.output.strip()
    assert len(msg.splitlines()) == 1 and "no Ollama build" in msg
    assert f"`oculo pull {instead}`" in msg and "--engine transformers" in msg


def test_an_unknown_hugging_face_repo_needs_the_transformers_engine(fake_ollama):
    r = _pull("some-org/some-vlm", host=f"127.0.0.1:{fake_ollama.server_address[1]}")
    assert r.exit_code == 1 and fake_ollama.pulled == []
    assert "oculo pull some-org/some-vlm --engine transformers" in r.output and len(r.output.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["minicpm-v-2.6", "moondream", "internvl2.5-8b"])
def test_remote_code_models_say_they_need_trust_remote_code(fake_ollama, name):
    r = _pull(name, "--engine", "transformers", host=f"127.0.0.1:{fake_ollama.server_address[1]}")
    assert r.exit_code == 1 and fake_ollama.pulled == []
    assert "--trust-remote-code" in r.output and len(r.output.strip().splitlines()) == 1


def test_trust_remote_code_is_refused_outside_the_transformers_engine(fake_ollama):
    r = _pull("minicpm-v", "--trust-remote-code", host=f"127.0.0.1:{fake_ollama.server_address[1]}")
    assert r.exit_code == 2 and "--engine transformers" in r.output and fake_ollama.pulled == []


def test_transformers_engine_goes_to_the_hub_not_ollama(fake_ollama, tmp_path):
    # Offline hub (HF_HUB_OFFLINE=1): the download is attempted for the repo, fails in one line, Ollama is untouched.
    r = CliRunner().invoke(cli, ["pull", "llava:7b", "--engine", "transformers"],
                           env={"OLLAMA_HOST": f"127.0.0.1:{fake_ollama.server_address[1]}", "HF_HUB_OFFLINE": "1",
                                "HF_HUB_CACHE": str(tmp_path)})
    assert r.exit_code == 1 and fake_ollama.pulled == []
    assert "llava-hf/llava-v1.6-mistral-7b-hf" in r.output and len(r.output.strip().splitlines()) == 1
