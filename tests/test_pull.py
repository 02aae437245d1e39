"""`oculo pull`: Ollama's streamed pull and the Hugging Face download, including offline failures.

Ollama cannot run here, so its /api/pull stream is replayed with httpx.MockTransport exactly as Ollama
sends it (status lines, then per-layer digest/total/completed, then success, or an error line).
"""

from __future__ import annotations

import json

import httpx
import pytest

from oculo.errors import EngineError, ModelNotFound
from oculo.models.pull import PullEvent, hf_pull, ollama_pull

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
