"""Plaintext reaches a local service only when that service is permissive, and unambiguously."""

from mesh.config.model import LocalService
from mesh.tls.mtls_mode import effective_mode, plaintext_target

API = LocalService(name="api", id="api-1", port=8080)
DB = LocalService(name="db", id="db-1", port=5432)


def test_a_strict_host_refuses_plaintext() -> None:
    decision = plaintext_target([API], "strict", {})
    assert not decision.accepted
    assert "strict" in decision.reason


def test_a_permissive_host_with_one_service_routes_plaintext_to_it() -> None:
    assert plaintext_target([API], "permissive", {}).service == API


def test_service_defaults_override_the_host_in_both_directions() -> None:
    assert effective_mode("api", "strict", {"api": "permissive"}) == "permissive"
    assert effective_mode("api", "permissive", {"api": "strict"}) == "strict"
    assert effective_mode("api", "permissive", {"api": ""}) == "permissive"
    assert effective_mode("api", "strict", {"api": None}) == "strict"


def test_two_permissive_services_leave_plaintext_nowhere_to_go() -> None:
    decision = plaintext_target([API, DB], "permissive", {})
    assert not decision.accepted
    assert "api, db" in decision.reason


def test_one_permissive_service_among_strict_ones_takes_the_plaintext() -> None:
    assert plaintext_target([API, DB], "strict", {"db": "permissive"}).service == DB
    assert plaintext_target([API, DB], "permissive", {"api": "strict"}).service == DB
