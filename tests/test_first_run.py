"""First run on a machine without Ollama: the default model downloads once, with progress, then answers;
with downloading off, one line says what was tried (Ollama, the cache) and the two ways forward.

The hub here is tests/fake_hub.py, a loopback HTTP server that stands in for huggingface.co (reached through
HF_ENDPOINT) and serves a tiny random-weight model under the default model's repo id. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from oculo.cli import cli
from oculo.engines import EngineSettings, open_engine
from oculo.engines.resolve import default_local_model
from oculo.errors import ModelNotFound
from oculo.testing import make_image, tiny_model

from .conftest import cli_env
from .fake_hub import FakeHub

UNREACHABLE = "127.0.0.1:9"  # the discard port: nothing listens, the connection is refused at once


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The CLI's environment with no HF_* of the user's, an empty cache and no Ollama."""
    env = {k: v for k, v in cli_env().items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(tmp_path / "hf-home"), OLLAMA_HOST=UNREACHABLE)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    return tiny_model("qwen2_vl", tmp_path_factory.mktemp("hub-models") / "tiny")


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / "img.png"
    make_image(64, 48).save(path)
    return path


def _oculo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # A fresh process: huggingface_hub reads HF_ENDPOINT and HF_HOME once, at import.
    return subprocess.run([sys.executable, "-m", "oculo", *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.mark.slow
def test_default_model_downloads_once_with_progress_then_answers(tmp_path, tiny_folder, image):
    repo = default_local_model()  # what `ask` runs in-process when no engine or model is named
    with FakeHub(repo, tiny_folder) as hub:
        env = _env(tmp_path, HF_ENDPOINT=hub.endpoint)
        first = _oculo("ask", "hi", str(image), "--max-tokens", "4", env=env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip()  # an answer (gibberish from random weights, but an answer)
        announce = [line for line in first.stderr.splitlines() if line.startswith("oculo: downloading")]
        assert len(announce) == 1 and repo in announce[0]
        size_kb = f"{hub.total_bytes / 1000:.1f} KB"
        assert size_kb in announce[0] and hub.endpoint in announce[0]
        assert "100%" in first.stderr  # huggingface_hub's progress bar ran to the end
        assert hub.hits["get"] == len(hub.files)  # every file fetched once
        hits = dict(hub.hits)

        second = _oculo("ask", "hi", str(image), "--max-tokens", "4", env=env)
        assert second.returncode == 0, second.stderr
        assert "downloading" not in second.stderr
        assert dict(hub.hits) == hits  # the cache answered: not one request reached the hub


@pytest.mark.slow
def test_an_explicit_model_missing_from_the_cache_downloads_too(tmp_path, tiny_folder, image):
    with FakeHub("someone/tiny-vlm", tiny_folder) as hub:
        env = _env(tmp_path, HF_ENDPOINT=hub.endpoint)
        r = _oculo("ask", "hi", str(image), "--engine", "transformers", "-m", "someone/tiny-vlm",
                   "--max-tokens", "3", env=env)
        assert r.returncode == 0, r.stderr
        assert "oculo: downloading someone/tiny-vlm" in r.stderr and hub.hits["get"] == len(hub.files)


def _ask(tmp_path: Path, image: Path, *args: str, **env: str):
    return CliRunner().invoke(cli, ["ask", "hi", str(image), *args],
                              env={"HF_HUB_CACHE": str(tmp_path / "empty-cache"), "OCULO_MODEL": None,
                                   "OCULO_ENGINE": None, "HF_HUB_OFFLINE": None, "OCULO_NO_DOWNLOAD": None, **env})


@pytest.mark.parametrize("how, stopper, allow", [
    (("--no-download",), "--no-download", "drop --no-download"),
    ((), "OCULO_NO_DOWNLOAD=1", "unset OCULO_NO_DOWNLOAD"),
    ((), "HF_HUB_OFFLINE=1", "unset HF_HUB_OFFLINE"),
])
def test_offline_first_run_fails_in_one_line_naming_ollama_and_the_cache(tmp_path, image, how, stopper, allow):
    env = {"OLLAMA_HOST": UNREACHABLE}
    if not how:
        env[stopper.split("=")[0]] = "1"
    r = _ask(tmp_path, image, *how, **env)
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1, r.output
    msg = lines[0]
    assert f"Ollama at http://{UNREACHABLE} is not reachable" in msg
    assert f"{default_local_model()} is not in the Hugging Face cache ({tmp_path / 'empty-cache'})" in msg
    assert f"downloading is off ({stopper})" in msg and allow in msg
    assert "`oculo pull moondream`" in msg and f"`oculo pull {default_local_model()} --engine transformers`" in msg
    assert "Traceback" not in r.output


class _OllamaWithoutVision(BaseHTTPRequestHandler):
    """An Ollama that answers but has only a text model pulled."""

    def log_message(self, *args: object) -> None:
        pass

    def _json(self, obj: object) -> None:
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/api/version":
            return self._json({"version": "0.9.0"})
        return self._json({"models": [{"name": "llama3.2:1b", "model": "llama3.2:1b"}]})

    def do_POST(self) -> None:  # /api/show
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._json({"capabilities": ["completion"]})


def test_an_ollama_without_vision_models_is_named_as_such(tmp_path, image):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OllamaWithoutVision)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        host = f"127.0.0.1:{server.server_address[1]}"
        r = _ask(tmp_path, image, "--no-download", OLLAMA_HOST=host)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1, r.output
    assert f"Ollama at http://{host} has no vision model" in r.output and "not in the Hugging Face cache" in r.output


def test_explicit_engine_with_downloading_off_says_so_without_touching_the_network(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # would fail loudly if anything tried it
    eng = open_engine("transformers", "no-such-org/no-such-model-xyz", settings=EngineSettings(no_download=True))
    with pytest.raises(ModelNotFound) as ei:
        eng.capabilities()
    msg = str(ei.value)
    assert "\n" not in msg and "downloading is off (--no-download)" in msg
    assert "`oculo pull no-such-org/no-such-model-xyz --engine transformers`" in msg and "Ollama" not in msg


def test_a_model_folder_runs_in_process_under_auto(tiny_folder):
    # auto with -m FOLDER: the folder is the in-process engine's (Ollama, even when up, cannot load a path).
    eng = open_engine(None, str(tiny_folder))
    assert eng.name == "transformers" and os.path.samefile(eng.model, tiny_folder)
