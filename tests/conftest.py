"""Shared fixtures: tiny random-weight models built on the spot and a real `oculo serve` over HTTP."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from oculo.testing import make_image, start_serve, tiny_model

# A schema a random-weight model can always finish: bounded strings and numbers, no free-form arrays.
BOUNDED_SCHEMA = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "maxLength": 12},
        "count": {"type": "integer", "minimum": 0, "maximum": 99},
        "ok": {"type": "boolean"},
        "kind": {"enum": ["photo", "document", "screenshot"]},
    },
    "required": ["label", "count", "ok", "kind"],
    "additionalProperties": False,
}


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory) -> Path:
    return tiny_model("qwen2_vl", tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_terse(tmp_path_factory) -> Path:
    """The tiny model with a generation config that ends JSON values early: long schemas finish quickly."""
    return tiny_model("qwen2_vl", tmp_path_factory.mktemp("models") / "terse", terse=True)


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("images")
    out = {}
    for name, (w, h) in {"small": (64, 48), "wide": (120, 90), "tall": (50, 110)}.items():
        out[name] = d / f"{name}.png"
        make_image(w, h, seed=len(name)).save(out[name])
    return out




# No test may reach the real hub: a model id missing from the cache fails in one line instead of downloading.
# The first-run tests lift this (cli_env drops OCULO_* variables) and point HF_ENDPOINT at a loopback stand-in.
os.environ.setdefault("OCULO_NO_DOWNLOAD", "1")

# Every CLI run in the tests shares one throwaway job store, never the user's own.
_TEST_STORE = os.path.join(tempfile.mkdtemp(prefix="oculo-tests-"), "jobs.sqlite3")


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCULO_", "OLLAMA_", "OPENAI_"))}
    env["OCULO_STORE"] = _TEST_STORE
    env.update(extra)
    return env


class Ran:
    """What a finished `oculo` command left: the same three fields as subprocess.CompletedProcess."""

    def __init__(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def oculo(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None, timeout: int = 300) -> Ran:
    """`oculo ARGS` run in this process through click's CliRunner: its exit code, stdout and stderr.

    Starting a Python that imports torch costs seconds per command; in process it is paid once per session.
    `env` is a whole environment as for subprocess (default: `cli_env()`); the few true subprocess runs live
    in test_e2e.py. `timeout` is accepted for the subprocess form's sake; pytest-timeout guards in-process runs.
    """
    from oculo.cli import cli

    env = cli_env() if env is None else env
    changes: dict[str, str | None] = {k: None for k in os.environ if k not in env}
    changes.update({k: v for k, v in env.items() if os.environ.get(k) != v})
    argv = sys.argv
    sys.argv = ["oculo", *args]  # the job store records the command line, and `resume` runs it again
    try:
        result = CliRunner().invoke(cli, list(args), input=stdin, env=changes, prog_name="oculo")
    finally:
        sys.argv = argv
    stderr = result.stderr_bytes or b""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback  # what Python itself would print for an uncaught exception

        stderr += "".join(traceback.format_exception(*result.exc_info)).encode()  # type: ignore[misc]
    return Ran(result.exit_code, result.stdout_bytes, stderr)


def _serve(model: Path):
    """`oculo serve` in its own process in front of the in-process engine; yields its base URL."""
    proc, base = start_serve(model, env=cli_env())  # served under the folder's name
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def served(tiny_qwen):
    """The tiny model behind `oculo serve`, served as "tiny"."""
    yield from _serve(tiny_qwen)


def _serve_in_process(model: Path):
    """The same app `oculo serve` runs, under uvicorn in a thread of this process; yields its base URL.

    No second Python importing torch and loading the model: `served` already tests the command itself.
    """
    import uvicorn

    from oculo.engines.local import TransformersEngine
    from oculo.server import create_app

    engine = TransformersEngine(str(model))
    engine.warm()  # load now, as `oculo serve` does
    server = uvicorn.Server(uvicorn.Config(create_app(engine), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the in-process server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    engine.close()


@pytest.fixture(scope="session")
def served_terse(tiny_terse):
    """The terse tiny model behind oculo's HTTP app (served as "terse"): long schemas finish."""
    yield from _serve_in_process(tiny_terse)


class OpenAIRecorder(http.server.BaseHTTPRequestHandler):
    """/v1/chat/completions that answers `server.content` (not streamed) and keeps every request body."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.bodies.append(body)  # type: ignore[attr-defined]
        reply = {"choices": [{"message": {"role": "assistant", "content": self.server.content},  # type: ignore[attr-defined]
                              "finish_reason": "stop"}],
                 "usage": {"prompt_tokens": 5, "completion_tokens": 3}}
        if body.get("stream"):
            events = [{"choices": [{"delta": {"content": self.server.content}, "finish_reason": None}]},  # type: ignore[attr-defined]
                      {"choices": [{"delta": {}, "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 5, "completion_tokens": 3}}]
            data = ("".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n").encode()
            kind = "text/event-stream"
        else:
            data, kind = json.dumps(reply).encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def openai_recorder():
    """A loopback OpenAI-compatible server that keeps every request body (`.bodies`) and answers `.content`."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OpenAIRecorder)
    srv.bodies = []  # type: ignore[attr-defined]
    srv.content = "two pages"  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.base_url = f"http://127.0.0.1:{srv.server_address[1]}/v1"  # type: ignore[attr-defined]
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)
