"""Stream plumbing shared by the listeners: accepting with a peek, and closing within a bound."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl

TLS_HANDSHAKE_RECORD = 0x16
READ_LIMIT = 2**16


async def peek_first_byte(sock: socket.socket) -> int | None:
    """Wait for the first byte without consuming it; None on a clean EOF.

    The inbound listener must see whether a client starts a TLS handshake before choosing
    TLS or plaintext (permissive mode), and the bytes must still be there for OpenSSL.
    """
    loop = asyncio.get_running_loop()
    fd = sock.fileno()
    while True:
        try:
            data = sock.recv(1, socket.MSG_PEEK)
            return data[0] if data else None
        except BlockingIOError:
            pass
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, _wake, ready)
        try:
            await ready
        finally:
            loop.remove_reader(fd)


def _wake(ready: asyncio.Future[None]) -> None:
    # The reader callback may already be queued when the waiter is cancelled (a timeout, a drain).
    if not ready.done():
        ready.set_result(None)


async def open_accepted(
    sock: socket.socket, context: ssl.SSLContext | None, *, handshake_timeout: float = 10.0
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Wrap an accepted socket in streams, doing the server side of TLS when a context is given."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_LIMIT, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    if context is None:
        transport, _ = await loop.connect_accepted_socket(lambda: protocol, sock)
    else:
        transport, _ = await loop.connect_accepted_socket(
            lambda: protocol, sock, ssl=context, ssl_handshake_timeout=handshake_timeout
        )
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


CLOSE_BOUND = 1.0


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    """Close and wait a bounded time (a TLS close_notify exchange must not hold us up)."""
    writer.close()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_BOUND):
            await writer.wait_closed()


def describe_tls_error(exc: BaseException) -> str:
    """A short, stable reason for a failed handshake, for logs and the refusal metric."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (exc.verify_message or "certificate verify failed").replace(" ", "_")
    if isinstance(exc, ssl.SSLError):
        return (exc.reason or "ssl_error").lower()
    if isinstance(exc, TimeoutError):
        return "handshake_timeout"
    if isinstance(exc, ConnectionError):
        return "connection_reset"
    return type(exc).__name__
