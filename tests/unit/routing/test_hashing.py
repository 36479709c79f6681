"""Hash policies: what a ring_hash or maglev balancer hashes for a request or connection."""

from __future__ import annotations

from mesh.routing import SetCookie, connection_hash, request_hash
from mesh.routing.balancing import stable_hash
from mesh.traffic import CookieConfig, HashPolicy
from tests.unit.routing.world import request

BY_USER = HashPolicy(field="header", field_value="x-user-id")
BY_SOURCE = HashPolicy(source_ip=True)


def test_the_same_header_value_gives_the_same_key_and_another_value_another() -> None:
    alice = request(headers={"x-user-id": "alice"})
    assert request_hash([BY_USER], alice).key == request_hash([BY_USER], alice).key == stable_hash("alice")
    assert request_hash([BY_USER], request(headers={"x-user-id": "bob"})).key != stable_hash("alice")


def test_no_policy_producing_a_value_means_no_key() -> None:
    assert request_hash([BY_USER], request()).key is None
    assert request_hash([], request()).key is None


def test_query_parameter_and_cookie_fields() -> None:
    by_query = HashPolicy(field="query_parameter", field_value="tenant")
    by_cookie = HashPolicy(field="cookie", field_value="session")
    assert request_hash([by_query], request(query=(("tenant", "t1"),))).key == stable_hash("t1")
    cookies = request(headers={"cookie": "theme=dark; session=abc123"})
    assert request_hash([by_cookie], cookies).key == stable_hash("abc123")


def test_values_of_several_policies_are_combined() -> None:
    both = request(headers={"x-user-id": "alice"}, source_ip="10.1.1.1")
    combined = request_hash([BY_USER, BY_SOURCE], both).key
    assert combined not in (None, stable_hash("alice"), stable_hash("10.1.1.1"))
    elsewhere = request(headers={"x-user-id": "alice"}, source_ip="10.2.2.2")
    assert request_hash([BY_USER, BY_SOURCE], elsewhere).key != combined


def test_a_terminal_policy_that_produced_a_key_stops_the_rest() -> None:
    terminal = HashPolicy(field="header", field_value="x-user-id", terminal=True)
    with_user = request(headers={"x-user-id": "alice"}, source_ip="10.1.1.1")
    assert request_hash([terminal, BY_SOURCE], with_user).key == stable_hash("alice")
    without_user = request(source_ip="10.1.1.1")
    assert request_hash([terminal, BY_SOURCE], without_user).key == stable_hash("10.1.1.1")


def test_a_missing_cookie_with_a_ttl_is_generated_from_the_client_address_and_hashed() -> None:
    policy = HashPolicy(field="cookie", field_value="lb", cookie_config=CookieConfig(ttl=3600.0, path="/"))
    decision = request_hash([policy], request(source_ip="10.1.1.1"))
    assert decision.set_cookie == SetCookie("lb", f"{stable_hash('10.1.1.1'):016x}", "/", 3600.0)
    assert decision.key == stable_hash(decision.set_cookie.value)
    assert decision.set_cookie.header_value() == f"lb={decision.set_cookie.value}; Path=/; Max-Age=3600; HttpOnly"
    # The client sends it back: the same key, nothing more to set.
    back = request_hash([policy], request(headers={"cookie": f"lb={decision.set_cookie.value}"}))
    assert (back.key, back.set_cookie) == (decision.key, None)


def test_a_session_cookie_has_no_max_age_and_without_ttl_or_session_nothing_is_generated() -> None:
    session = HashPolicy(field="cookie", field_value="lb", cookie_config=CookieConfig(session=True))
    generated = request_hash([session], request()).set_cookie
    assert generated is not None
    assert "Max-Age" not in generated.header_value()
    plain = HashPolicy(field="cookie", field_value="lb", cookie_config=CookieConfig(path="/"))
    assert request_hash([plain], request()) == request_hash([], request())


def test_connections_hash_only_on_the_source_address() -> None:
    assert connection_hash([BY_USER, BY_SOURCE], "10.1.1.1") == stable_hash("10.1.1.1")
    assert connection_hash([BY_USER], "10.1.1.1") is None
