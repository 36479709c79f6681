"""After a relayed `101 Switching Protocols` (WebSocket): bytes both ways until the tunnel ends.

The upgraded connection is carried like an L4 one, by mesh.proxy.relay (the client is the
side that asked for the upgrade), whose rules for an end that cannot be passed on as a
half-close across a TLS hop apply here too. Only the bytes that arrived together with the
heads are this module's: the codec's readers may already hold them.
"""

from __future__ import annotations

from mesh.proxy.http.downstream import IncomingRequest
from mesh.proxy.http.pool import UpstreamConnection
from mesh.proxy.relay import relay


async def tunnel(request: IncomingRequest, upstream: UpstreamConnection) -> None:
    """Carry the upgraded connection until it ends; its bytes are added to the request's record."""
    client, record = request.client, request.record
    # A client's first frame sent right behind its request, the app's greeting right behind the 101.
    early_in, early_out = client.http.take_buffered(), upstream.http.take_buffered()
    upstream.writer.write(early_in)
    client.writer.write(early_out)
    record.bytes_in += len(early_in)
    record.bytes_out += len(early_out)
    sent, received = await relay(client.reader, client.writer, upstream.reader, upstream.writer)
    record.bytes_in += sent
    record.bytes_out += received
