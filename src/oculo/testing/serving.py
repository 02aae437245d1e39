"""`oculo serve` in its own process on a free loopback port, for tests and benchmarks that talk to it over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

__all__ = ["free_port", "start_serve"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(model: str | Path, *args: str, env: Mapping[str, str] | None = None, pipe: bool = False,
                timeout: float = 120) -> tuple[subprocess.Popen[str], str]:
    """Start `oculo serve --engine transformers -m MODEL ARGS` and wait until it answers; returns the process
    (its command is `proc.args`) and its base URL. `/` is polled because it answers even when a key is required.

    `pipe=True` gives the caller the server's output (stderr included) on `proc.stdout`, to read in full with
    `proc.communicate()`; otherwise it goes to a temporary file, which no amount of logging can fill up and block,
    and which is shown if the server exits before it answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "oculo", "serve", "--engine", "transformers", "-m", str(model),
           "--port", str(port), *args]
    log = None if pipe else tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(cmd, env=dict(env) if env is not None else os.environ.copy(),
                            stdout=subprocess.PIPE if pipe else log, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            kept = proc.stdout if pipe else log
            if log is not None:
                log.seek(0)
            output = kept.read() if kept is not None else ""
            raise RuntimeError(f"oculo serve exited early ({proc.returncode}):\n{output}")
        try:
            if httpx.get(base + "/", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"oculo serve did not come up within {timeout:.0f} s")
