"""A client connection's deadlines over loopback, on uvloop and on asyncio's own loop: a slow
head is answered 408, an idle keep-alive connection closes silently, draining closes an idle
one at once (not when its idle timeout would have), and closing the listener's task is a
cancellation rather than a timeout.

The handler is a stub that answers 200: what is under test is serve_connection's waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from mesh.http.streams import HttpReader
from mesh.proxy.http.access_log import RequestRecord
from mesh.proxy.http.downstream import Downstream, DrainSignal, IncomingRequest, send, serve_connection
from mesh.proxy.http.timeouts import DownstreamTimeouts

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
GET = b"GET / HTTP/1.1\r\nHost: api\r\n\r\n"


class Answering:
    """Answers every request 200 and keeps the connection."""

    def __init__(self) -> None:
        self.reported: list[RequestRecord] = []

    def new_record(self, started: float) -> RequestRecord:
        return RequestRecord("inbound", "web", "api", started)

    def report(self, record: RequestRecord) -> None:
        self.reported.append(record)

    async def handle(self, request: IncomingRequest) -> bool:
        request.record.status = 200
        return await send(request.client, OK)


class Listener:
    """serve_connection behind a loopback server; `served` holds each connection's task."""

    def __init__(self, timeouts: DownstreamTimeouts) -> None:
        self.handler = Answering()
        self.drain = DrainSignal()
        self.timeouts = timeouts
        self.served: list[asyncio.Task[None]] = []
        self.connected = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.served.append(task)
        self.connected.set()
        client = Downstream(reader, writer, HttpReader(reader))
        await serve_connection(client, self.handler, timeouts=self.timeouts, drain=self.drain)

    async def __aenter__(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.client = await asyncio.open_connection("127.0.0.1", port)
        return self.client

    async def __aexit__(self, *_: object) -> None:
        self.client[1].close()
        self.server.close()
        await self.server.wait_closed()


async def until_closed(reader: asyncio.StreamReader) -> bytes:
    return await reader.read()


def test_a_head_not_complete_within_the_header_timeout_is_answered_408(run: Run[None]) -> None:
    async def scenario() -> None:
        listener = Listener(DownstreamTimeouts(header=0.05, keepalive_idle=60.0))
        async with listener as (reader, writer):
            writer.write(b"GET / HTTP/1.1\r\nHost: api\r\nX-Slow: ")
            received = await until_closed(reader)
        assert received.startswith(b"HTTP/1.1 408 ")
        assert [r.flags for r in listener.handler.reported] == [["header_timeout"]]

    run(scenario())


def test_an_idle_keep_alive_connection_is_closed_silently(run: Run[None]) -> None:
    async def scenario() -> None:
        async with Listener(DownstreamTimeouts(header=60.0, keepalive_idle=0.05)) as (reader, writer):
            writer.write(GET)
            assert await until_closed(reader) == OK

    run(scenario())


def test_draining_closes_an_idle_connection_at_once(run: Run[None]) -> None:
    async def scenario() -> None:
        listener = Listener(DownstreamTimeouts(header=60.0, keepalive_idle=60.0))
        async with listener as (reader, writer):
            writer.write(GET)
            assert await reader.readexactly(len(OK)) == OK
            listener.drain.start()  # an idle timeout of 60 s would outlast the test's bound
            assert await until_closed(reader) == b""
        assert listener.served[0].done()

    run(scenario())


def test_cancelling_a_waiting_connection_is_a_cancellation_not_a_timeout(run: Run[None]) -> None:
    async def scenario() -> None:
        listener = Listener(DownstreamTimeouts(header=60.0, keepalive_idle=60.0))
        async with listener as (reader, writer):
            await listener.connected.wait()
            task = listener.served[0]
            writer.write(GET)
            assert await reader.readexactly(len(OK)) == OK
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await until_closed(reader) == b""

    run(scenario())
