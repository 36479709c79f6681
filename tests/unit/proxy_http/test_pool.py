"""Idle upstream connections: reused most-recent first, bounded, and aged out."""

from __future__ import annotations

import pytest

from mesh.proxy.http.pool import IdleConnections


def pool(max_idle: int = 4, idle_timeout: float = 10.0) -> IdleConnections[str]:
    return IdleConnections(max_idle=max_idle, idle_timeout=idle_timeout)


def test_the_most_recently_used_connection_is_reused_first() -> None:
    idle = pool()
    idle.put("a", now=0)
    idle.put("b", now=1)
    assert idle.take(now=2) == ("b", [])
    assert idle.take(now=2) == ("a", [])
    assert idle.take(now=2) == (None, [])


def test_connections_idle_for_the_timeout_are_handed_back_to_close() -> None:
    idle = pool(idle_timeout=10)
    idle.put("old", now=0)
    idle.put("fresh", now=5)
    assert idle.take(now=10) == ("fresh", ["old"])
    assert len(idle) == 0


def test_returning_a_connection_beyond_the_bound_closes_the_oldest() -> None:
    idle = pool(max_idle=2)
    assert idle.put("a", now=0) == []
    assert idle.put("b", now=1) == []
    assert idle.put("c", now=2) == ["a"]
    assert len(idle) == 2


def test_a_bound_of_zero_keeps_nothing() -> None:
    idle = pool(max_idle=0)
    assert idle.put("a", now=0) == ["a"]


def test_expiry_sweeps_only_what_aged_out() -> None:
    idle = pool(idle_timeout=10)
    idle.put("a", now=0)
    idle.put("b", now=8)
    assert idle.expire(now=12) == ["a"]
    assert idle.drain() == ["b"]


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="idle_timeout"):
        pool(idle_timeout=0)


# -- a connection that received bytes while idle (the peer spoke out of turn) ------------------


class Conn:
    """A stand-in connection: `dirty` once a byte arrived that no request asked for."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dirty = False

    def __repr__(self) -> str:
        return self.name


def watched(max_idle: int = 4, idle_timeout: float = 10.0) -> IdleConnections[Conn]:
    return IdleConnections(max_idle=max_idle, idle_timeout=idle_timeout, usable=lambda c: not c.dirty)


def test_a_connection_that_received_bytes_while_idle_is_never_taken() -> None:
    idle = watched()
    a, b = Conn("a"), Conn("b")
    idle.put(a, now=0)
    idle.put(b, now=1)
    b.dirty = True
    assert idle.take(now=2) == (a, [b])
    assert idle.take(now=2) == (None, [])


def test_a_connection_given_back_with_bytes_already_past_its_response_is_refused() -> None:
    idle = watched()
    c = Conn("c")
    c.dirty = True
    assert idle.put(c, now=0) == [c]
    assert len(idle) == 0


def test_the_sweep_closes_a_connection_that_received_bytes_while_idle_before_it_ages_out() -> None:
    idle = watched(idle_timeout=10)
    a, b, c = Conn("a"), Conn("b"), Conn("c")
    for i, conn in enumerate((a, b, c)):
        idle.put(conn, now=i)
    b.dirty = True
    assert idle.expire(now=3) == [b]
    assert idle.drain() == [a, c]
