"""Byte relay between a client-side and a server-side stream.

Half-close cannot cross a TLS leg here: asyncio's TLS transports cannot send a
close_notify without closing both directions. So the roles decide what an EOF means:
- the server side finished sending: the exchange is over. The EOF is passed on to a
  plain-TCP client as a half-close (so it reads to the end), then everything is closed;
  only between two plain-TCP legs does the client's direction stay open;
- the client side finished sending: passed on as a half-close when the server side is
  plain TCP; otherwise the server's direction stays open while it keeps sending, so a
  client that shuts its write side still gets its answer, and is closed once it has been
  quiet for HALF_CLOSE_LINGER (a server waiting for the client's EOF would otherwise
  hold both connections forever).
Each relay ends when both directions have ended; nothing waits on the other forever.
"""

from __future__ import annotations

import asyncio
import contextlib

from mesh.proxy.streams import close_quietly

CHUNK = 256 * 1024
HALF_CLOSE_LINGER = 2.0


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: list[int]) -> None:
    while True:
        data = await reader.read(CHUNK)
        if not data:
            return
        counter[0] += len(data)
        writer.write(data)
        if writer.transport.get_write_buffer_size() > CHUNK:
            await writer.drain()


async def relay(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server_writer: asyncio.StreamWriter,
) -> tuple[int, int]:
    """Copy both ways until the exchange is over; return bytes (client->server, server->client)."""
    up, down = [0], [0]
    server_done = asyncio.Event()

    def abort_all() -> None:
        for writer in (client_writer, server_writer):
            writer.transport.abort()

    async def upstream() -> None:
        try:
            await _pump(client_reader, server_writer, up)
            await server_writer.drain()
            if server_writer.can_write_eof():
                server_writer.write_eof()
                return
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            abort_all()
            return
        # The EOF could not be passed on: let the server finish its answer, then end.
        seen = -1
        while not server_done.is_set() and down[0] != seen:
            seen = down[0]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HALF_CLOSE_LINGER):
                    await server_done.wait()
        down_task.cancel()

    async def downstream() -> None:
        try:
            await _pump(server_reader, client_writer, down)
            await client_writer.drain()
            if client_writer.can_write_eof():
                client_writer.write_eof()
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            abort_all()
        finally:
            server_done.set()

    up_task = asyncio.ensure_future(upstream())
    down_task = asyncio.ensure_future(downstream())
    try:
        await server_done.wait()
        if not (client_writer.can_write_eof() and server_writer.can_write_eof()):
            # A TLS leg is involved: the server's EOF was (or could only be passed on as) a
            # full close, so nothing the client still sends could be delivered.
            up_task.cancel()
        await asyncio.gather(up_task, down_task, return_exceptions=True)
    finally:
        for task in (up_task, down_task):
            task.cancel()
        await asyncio.gather(close_quietly(client_writer), close_quietly(server_writer))
    return up[0], down[0]
