"""Byte relay between two streams, with half-close where the transport allows it."""

from __future__ import annotations

import asyncio

from mesh.proxy.streams import close_quietly

CHUNK = 256 * 1024


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
    a_reader: asyncio.StreamReader,
    a_writer: asyncio.StreamWriter,
    b_reader: asyncio.StreamReader,
    b_writer: asyncio.StreamWriter,
) -> tuple[int, int]:
    """Copy a->b and b->a until both directions end; return bytes (a->b, b->a).

    When one side finishes sending, the other side is told with a half-close if its
    transport supports it (plain TCP does; TLS in asyncio does not), and the opposite
    direction keeps flowing until it ends too: a client that shuts its write side still
    gets its whole response.
    """
    ab, ba = [0], [0]

    async def direction(r: asyncio.StreamReader, w: asyncio.StreamWriter, counter: list[int]) -> None:
        try:
            await _pump(r, w, counter)
            await w.drain()
            if w.can_write_eof():
                w.write_eof()
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            # One side broke: tear both down.
            for writer in (a_writer, b_writer):
                writer.transport.abort()

    try:
        await asyncio.gather(direction(a_reader, b_writer, ab), direction(b_reader, a_writer, ba))
    finally:
        await asyncio.gather(close_quietly(a_writer), close_quietly(b_writer))
    return ab[0], ba[0]
