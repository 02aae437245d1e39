"""Start the review page on a free loopback port; the socket is bound here, so the URL printed is the one served."""

from __future__ import annotations

import socket
from collections.abc import Callable

from .app import create_app
from .core import ReviewJob

__all__ = ["serve"]


def serve(review: ReviewJob, *, port: int = 0, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted; `on_ready(url)` runs once the socket listens (print it, open a browser)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))  # loopback only, always: the page can change the store
    sock.listen(64)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    config = uvicorn.Config(create_app(review), log_level="warning", access_log=False,
                            limit_concurrency=64, timeout_keep_alive=5, h11_max_incomplete_event_size=64 * 1024)
    server = uvicorn.Server(config)
    if on_ready is not None:
        started = server.startup

        async def startup(sockets: list[socket.socket] | None = None) -> None:
            await started(sockets=sockets)
            on_ready(url)

        server.startup = startup  # type: ignore[method-assign]
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
