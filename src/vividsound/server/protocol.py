"""uvicorn's h11 protocol with a deadline for the request line and headers (slow-loris guard).

uvicorn closes idle keep-alive connections, but a client that opens a connection and sends its headers
a byte at a time is waited for forever: a few hundred such sockets hold the server's connection slots
(issue 26). Here every request must have sent its headers within ``header_timeout`` seconds of its
first byte (or of the connection opening); otherwise it is answered 408 and closed. The body has its
own deadline, enforced by :class:`~vividsound.server.middleware.BodyLimitMiddleware`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

_BODY_408 = b'{"error": "the request headers did not arrive in time"}'
_TIMEOUT_408 = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                b"content-length: " + str(len(_BODY_408)).encode() + b"\r\n\r\n" + _BODY_408)


class GuardedH11Protocol(H11Protocol):
    """H11Protocol that closes a connection whose request headers take longer than ``header_timeout``."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.logger.info("closing a connection whose request headers took over %g s", self.header_timeout)
            self.transport.write(_TIMEOUT_408)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        before = self.cycle
        idle = before is None or before.response_complete
        super().data_received(data)
        if self.cycle is not before:  # a new request's headers are complete
            self._disarm()
        elif idle and not self.transport.is_closing():  # the first bytes of a request whose headers are still coming
            self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # uvicorn's keep-alive timer now guards the idle connection
        self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def guarded_h11(header_timeout: float) -> type[GuardedH11Protocol]:
    """The protocol class for ``uvicorn.run(http=...)`` with this header deadline."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"header_timeout": float(header_timeout)})
