"""One record per request: the access log line and the golden-signal metrics come from it.

The record is filled in as the request goes (it is the request's ledger: bytes, status,
what went wrong) and reported once, when the response is done or the request given up.
`flags` name what happened in the mesh's words, like Envoy's response flags: the closed
vocabulary of mesh.proxy.http.flags (`Flag`, each member documented there). A response the
mesh answers itself carries its flag, dashed, in `x-mesh-reason`.

The agent's `access_log` setting picks which records get a line (`logged_under`); the
golden-signal metrics count every record whatever it says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from mesh.config.model import AccessLogMode
from mesh.proxy.http.flags import INFORMATIONAL_FLAGS, Flag

Direction = Literal["inbound", "outbound"]


@dataclass(slots=True)
class RequestRecord:
    direction: Direction
    source: str
    destination: str
    started: float  # time.perf_counter() when the request's first byte was in (uvloop's clock is in ms)
    method: str = ""
    path: str = ""
    subset: str = ""
    status: int = 0  # 0: no response was sent
    bytes_in: int = 0  # request body bytes read from the client
    bytes_out: int = 0  # response body bytes written to the client
    request_id: str = ""
    traceparent: str = ""
    parent_span: str = ""
    upstream: str = ""  # host:port of the app or endpoint that served it
    flags: list[Flag] = field(default_factory=list)
    reason: str = ""  # why the mesh answered itself (denial, protocol error)
    ended: float = 0.0  # time.perf_counter() when reported; the span's end (mesh.proxy.http.spans)

    def fields(self, duration: float) -> dict[str, object]:
        """The access log line's fields; the line itself is mesh.telemetry.logs.EventLog's.

        Several carry the caller's text (path, request_id, reason, the traceparent's trace
        id, the source identity): none is trusted not to hold a secret, and the line is
        redacted as a whole, as every log line is (see mesh.telemetry.logs).
        """
        out: dict[str, object] = {
            "direction": self.direction,
            "source": self.source,
            "destination": self.destination,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "duration_ms": round(duration * 1000, 3),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "request_id": self.request_id,
            "traceparent": self.traceparent,
        }
        if self.subset:
            out["subset"] = self.subset
        if self.parent_span:
            out["parent_span"] = self.parent_span
        if self.upstream:
            out["upstream"] = self.upstream
        if self.flags:
            out["flags"] = list(self.flags)
        if self.reason:
            out["reason"] = self.reason
        return out


def failed(status: int, flags: Iterable[Flag]) -> bool:
    """The request failed: a 5xx, no response at all, or a flag naming a refusal or a failure
    (denied 403, bad_request 400, header_timeout 408, rate_limited 429, fault_abort, resets...).
    A 4xx the app itself answered is the app's business, not the mesh's: not a failure here."""
    return status >= 500 or status == 0 or any(flag not in INFORMATIONAL_FLAGS for flag in flags)


def logged_under(mode: AccessLogMode, record: RequestRecord) -> bool:
    """Whether `record` gets an access-log line under the agent's `access_log` setting."""
    if mode == "all":
        return True
    return mode == "errors" and failed(record.status, record.flags)


MAX_LOGGED_PATH = 512


def logged_path(target: bytes) -> str:
    """The request-target for the log, cut to a bound (a 16 KiB URL is not a log line)."""
    text = target[:MAX_LOGGED_PATH].decode("ascii", "replace")
    return text if len(target) <= MAX_LOGGED_PATH else text + "..."
