"""A loopback stand-in for the Hugging Face hub: just enough of its HTTP API for `snapshot_download`.

It serves one model folder under one repo id, answering what huggingface_hub 1.x/2.x asks (read from its
`hf_api.py`, `_snapshot_download.py` and `file_download.py`):

- `GET /api/models/{repo}` and `/api/models/{repo}/revision/{rev}`: the repo's info, with its commit `sha` and `siblings` (with sizes);
- `GET /api/models/{repo}/tree/{commit}?recursive=...`: every file with its size and blob id (one page);
- `HEAD`/`GET /{repo}/resolve/{rev}/{file}`: the file, with `ETag`, `X-Repo-Commit` and `Content-Length`.

Every request is counted, so a test can tell a download from a cache hit.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"  # any 40 hex digits: the one revision this hub has


class FakeHub:
    def __init__(self, repo_id: str, folder: Path) -> None:
        self.repo_id = repo_id
        self.files = {p.relative_to(folder).as_posix(): p.read_bytes()
                      for p in sorted(folder.rglob("*")) if p.is_file()}
        self.hits: Counter[str] = Counter()  # "info", "tree", "head", "get"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def total_bytes(self) -> int:
        return sum(len(b) for b in self.files.values())

    def __enter__(self) -> FakeHub:  # noqa: PYI034 - Python 3.10 has no typing.Self
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str], *, head: bool = False) -> None:
                self.send_response(status)
                for k, v in {"Content-Length": str(len(body)), "X-Repo-Commit": COMMIT, **headers}.items():
                    self.send_header(k, v)
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _json(self, obj: object) -> None:
                self._send(200, json.dumps(obj).encode(), {"Content-Type": "application/json"})

            def _missing(self, head: bool = False) -> None:
                self._send(404, b'{"error":"Repository not found"}',
                           {"Content-Type": "application/json", "X-Error-Code": "RepoNotFound"}, head=head)

            def _route(self, head: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                api = f"/api/models/{hub.repo_id}/"
                if (path.startswith(api + "revision/") or path == api.rstrip("/")) and not head:
                    hub.hits["info"] += 1
                    return self._json({"id": hub.repo_id, "modelId": hub.repo_id, "sha": COMMIT, "private": False,
                                       "siblings": [{"rfilename": f, "size": len(b)} for f, b in hub.files.items()]})
                if path.startswith(api + "tree/") and not head:
                    hub.hits["tree"] += 1
                    return self._json([{"type": "file", "path": f, "size": len(b),
                                        "oid": hashlib.sha1(b).hexdigest()} for f, b in hub.files.items()])
                prefix = f"/{hub.repo_id}/resolve/"
                if path.startswith(prefix):
                    _rev, _, name = path[len(prefix):].partition("/")
                    if name in hub.files:
                        body = hub.files[name]
                        hub.hits["head" if head else "get"] += 1
                        return self._send(200, body, {"ETag": f'"{hashlib.sha256(body).hexdigest()}"',
                                                      "Content-Type": "application/octet-stream"}, head=head)
                return self._missing(head)

            def do_GET(self) -> None:
                self._route(head=False)

            def do_HEAD(self) -> None:
                self._route(head=True)

        return Handler
