"""uvicorn's HTTP/1.1 protocol with a deadline for the request head (slowloris).

uvicorn closes an idle keep-alive connection only after a first response; a client that connects and never
finishes its request line and headers would hold its connection forever. Here every connection must send a
complete request head within `header_timeout_s` of connecting, and again after each response.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["protocol_with_header_timeout"]


def protocol_with_header_timeout(header_timeout_s: float) -> type[H11Protocol]:
    class HeadDeadlineProtocol(H11Protocol):
        _head_deadline: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._head_deadline is not None:
                self._head_deadline.cancel()
            self._head_deadline = self.loop.call_later(header_timeout_s, self._head_too_slow)

        def _head_too_slow(self) -> None:
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()  # no complete request head in time: drop it, nothing to answer

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_deadline is not None:
                self._head_deadline.cancel()
            super().connection_lost(exc)

    return HeadDeadlineProtocol
