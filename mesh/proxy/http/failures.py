"""How an exchange can fail before the client got a response head, and what to answer.

Raised by mesh.proxy.http.exchange and caught by the listeners, which answer the status
themselves (nothing has been sent to the client yet) and log the flag. Once a response
head is on its way to the client, failures are no longer answered: both connections are
dropped and the flag recorded.
"""

from __future__ import annotations

from mesh.proxy.http.flags import Flag


class ExchangeFailed(Exception):
    """The upstream side failed; answer `status` to the client.

    `before_response` is True when the upstream closed or reset the connection before
    sending a byte of a response: on a reused connection that is the idle-close race, and
    a request that is safe to repeat (see `retry.can_resend`) may go again on a new one.
    """

    def __init__(self, status: int, flag: Flag, reason: str, *, before_response: bool = False) -> None:
        self.status = status
        self.flag = flag
        self.reason = reason
        self.before_response = before_response
        super().__init__(f"{status} {flag}: {reason}")


class Unreachable(ExchangeFailed):
    """The connection to the attempt's endpoint could not be made (refused, TLS, identity, connect timeout).

    Nothing was sent, so the retry router (retrying.py), which owns every attempt, may dial
    another endpoint at once. `endpoint` is the one that failed, when the listener knows it.
    """

    def __init__(self, reason: str, *, endpoint: object = None) -> None:
        super().__init__(503, Flag.CONNECT_FAILURE, reason)
        self.endpoint = endpoint


class ClientFailed(Exception):
    """The client broke the exchange: a malformed or stalled body (answer `status`), or it left (status 0)."""

    def __init__(self, status: int, flag: Flag, reason: str) -> None:
        self.status = status
        self.flag = flag
        self.reason = reason
        super().__init__(f"{status} {flag}: {reason}")
