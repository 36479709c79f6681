"""HTTP/1.1 for the mesh's L7 proxy: a codec with no I/O, and a thin asyncio layer.

Protocol code (everything but `streams` and `protocol`) takes bytes and returns values or
events; it never touches a socket, so every framing rule is unit-tested without one.
`connection` is one connection's state machine over those parts (both roles, keep-alive,
100-continue, reuse); `protocol` is the asyncio BufferedProtocol that feeds it. Names, values,
methods and targets are bytes throughout (see mesh.http.headers for why).

Heads are parsed by llhttp (`llhttp_head`, what `streams.HttpReader` uses); the pure-Python
readers (`head_reader`, `head_syntax`) are its oracle, held to the same results by
`differential` (docs/http-parsing.md).
"""

from mesh.http.body import (
    BodyReader,
    ChunkedReader,
    ContentLengthReader,
    Data,
    EndOfMessage,
    Event,
    UntilCloseReader,
    body_reader,
)
from mesh.http.encode import (
    BodyEncoder,
    encode_chunk,
    encode_fields,
    encode_last_chunk,
    encode_request_head,
    encode_response_head,
    outgoing_framing,
    with_framing_headers,
)
from mesh.http.errors import ProtocolError
from mesh.http.framing import (
    CHUNKED,
    NO_BODY,
    UNTIL_CLOSE,
    Chunked,
    ContentLength,
    Framing,
    NoBody,
    UntilClose,
    framing_for_request,
    framing_for_response,
    parse_content_length,
)
from mesh.http.grammar import is_field_name, is_field_value
from mesh.http.head_reader import (
    HeadReader,
    RequestHeadReader,
    ResponseHeadReader,
    parse_request_head,
    parse_response_head,
)
from mesh.http.header_view import HeaderView
from mesh.http.headers import EMPTY_HEADERS, Headers
from mesh.http.limits import DEFAULT_LIMITS, Limits
from mesh.http.messages import HTTP_10, HTTP_11, RequestHead, ResponseHead
from mesh.http.proxying import (
    HOP_BY_HOP,
    expects_continue,
    is_upgrade,
    keep_alive,
    strip_hop_by_hop,
    to_origin_form,
    upgrade_protocols,
)
from mesh.http.target import RequestTarget, TargetForm, is_valid_authority, parse_target, target_form

__all__ = [
    "CHUNKED",
    "DEFAULT_LIMITS",
    "EMPTY_HEADERS",
    "HOP_BY_HOP",
    "HTTP_10",
    "HTTP_11",
    "NO_BODY",
    "UNTIL_CLOSE",
    "BodyEncoder",
    "BodyReader",
    "Chunked",
    "ChunkedReader",
    "ContentLength",
    "ContentLengthReader",
    "Data",
    "EndOfMessage",
    "Event",
    "Framing",
    "HeadReader",
    "HeaderView",
    "Headers",
    "Limits",
    "NoBody",
    "ProtocolError",
    "RequestHead",
    "RequestHeadReader",
    "RequestTarget",
    "ResponseHead",
    "ResponseHeadReader",
    "TargetForm",
    "UntilClose",
    "UntilCloseReader",
    "body_reader",
    "encode_chunk",
    "encode_fields",
    "encode_last_chunk",
    "encode_request_head",
    "encode_response_head",
    "expects_continue",
    "framing_for_request",
    "framing_for_response",
    "is_field_name",
    "is_field_value",
    "is_upgrade",
    "is_valid_authority",
    "keep_alive",
    "outgoing_framing",
    "parse_content_length",
    "parse_request_head",
    "parse_response_head",
    "parse_target",
    "strip_hop_by_hop",
    "target_form",
    "to_origin_form",
    "upgrade_protocols",
    "with_framing_headers",
]
