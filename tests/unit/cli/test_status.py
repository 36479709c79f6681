"""`meshctl status` and `meshctl certs`: the admin API's status document, for people and programs."""

from __future__ import annotations

import json
from typing import Any

from mesh.cli.certs import certificates, render_certs
from mesh.cli.status import render_status
from tests.support.ports import free_port
from tests.unit.cli.conftest import AdminStandIn, meshctl

NOW = 1_700_000_000.0


def status_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "node": "vm-web-1",
        "datacenter": "dc1",
        "trust_domain": "td.consul",
        "ready": True,
        "not_ready_reasons": [],
        "services": [
            {
                "name": "web",
                "id": "web-vm-web-1",
                "protocol": "http",
                "local": "127.0.0.1:8080",
                "certificate": {
                    "serial": "1a:2b",
                    "spiffe_id": "spiffe://td.consul/ns/default/dc/dc1/svc/web",
                    "not_after": NOW + 23 * 3600 + 30,
                    "renew_at": NOW + 14 * 3600,
                },
                "upstreams": [{"destination": "api", "datacenter": "dc1", "bind": "127.0.0.1:15001"}],
            }
        ],
        "endpoints": {
            "api@dc1": [
                {"address": "10.0.0.2", "port": 20000, "node": "b", "instance": "api-b", "health": "passing"},
                {"address": "10.0.0.3", "port": 20000, "node": "c", "instance": "api-c", "health": "warning"},
            ]
        },
        "intentions": 3,
        "snapshot_version": 17,
        "config_versions": {"intentions": 12, "endpoints/api/dc1": 40},
        "errors": {},
    }
    doc.update(changes)
    return doc


def test_status_shows_services_upstreams_endpoints_and_certificate_expiry() -> None:
    text = render_status(status_doc(), NOW)
    assert "node vm-web-1  datacenter dc1  trust domain td.consul  ready" in text
    assert "web      web-vm-web-1  http      127.0.0.1:8080  1a:2b        in 23h" in text
    assert "web      api       dc1         127.0.0.1:15001  2 healthy" in text
    assert "api@dc1      10.0.0.3  20000  c     api-c     warning" in text
    assert "endpoints/api/dc1  40" in text
    assert "no errors" in text


def test_status_says_why_the_agent_is_not_ready_and_shows_the_last_errors() -> None:
    doc = status_doc(
        ready=False,
        not_ready_reasons=["waiting for first Consul sync of intentions"],
        errors={"mesh/config/service-router/api": "rejected (ModifyIndex 52)\n  Routes[0]: bad"},
    )
    text = render_status(doc, NOW)
    assert "NOT READY\n  not ready: waiting for first Consul sync of intentions" in text
    assert "LAST ERRORS\nmesh/config/service-router/api: rejected (ModifyIndex 52)\n    Routes[0]: bad" in text


def test_a_fail_static_agent_says_so_in_its_headline_and_lists_each_warning() -> None:
    warnings = [
        "fail-static: Consul unreachable since 2023-11-14T22:13:20+00:00 (40s); serving the last good snapshot",
        "not registered in Consul yet (it registers as soon as Consul answers)",
    ]
    text = render_status(status_doc(warnings=warnings, fail_static=True), NOW)
    first, second, third = text.splitlines()[:3]
    assert first.endswith("  ready, FAIL-STATIC (serving the last good state)")
    assert second == f"  warning: {warnings[0]}"
    assert third == f"  warning: {warnings[1]}"


def test_a_warning_without_fail_static_leaves_the_headline_plain() -> None:
    text = render_status(status_doc(warnings=["something degraded"], fail_static=False), NOW)
    assert text.splitlines()[:2] == [
        "node vm-web-1  datacenter dc1  trust domain td.consul  ready",
        "  warning: something degraded",
    ]


def test_settings_only_a_restart_applies_are_listed_under_the_headline() -> None:
    text = render_status(status_doc(restart_required=["inbound.listen", "state_dir"]), NOW)
    block = text.split("\n\n")[1]
    assert block == (
        "RESTART REQUIRED: changed in the config file, running values kept until a restart\n"
        "  inbound.listen\n"
        "  state_dir"
    )


def test_an_agent_in_good_shape_shows_no_warning_fail_static_or_restart_block() -> None:
    text = render_status(status_doc(warnings=[], fail_static=False, restart_required=[]), NOW)
    assert "warning:" not in text
    assert "FAIL" not in text
    assert "RESTART" not in text


def test_ejected_endpoints_are_counted_apart_from_healthy_ones_when_the_agent_reports_them() -> None:
    doc = status_doc()
    doc["endpoints"]["api@dc1"][1]["ejected"] = True
    text = render_status(doc, NOW)
    assert "1 healthy, 1 ejected" in text
    endpoint_header = next(line for line in text.splitlines() if line.startswith("DESTINATION"))
    assert endpoint_header.endswith("EJECTED")


def test_fields_this_version_does_not_know_are_shown_rather_than_dropped() -> None:
    doc = status_doc(
        traffic_documents={"mesh/config/service-splitter/api": 41},
        ejections=[{"endpoint": "10.0.0.3:20000", "until": "in 30s"}],
        weird=[1, 2],
    )
    text = render_status(doc, NOW)
    assert "TRAFFIC DOCUMENTS                 VALUE" in text
    assert "mesh/config/service-splitter/api  41" in text
    assert "ENDPOINT        UNTIL" in text
    assert "WEIRD" in text


def test_certs_lists_serial_identity_expiry_and_next_rotation() -> None:
    rows = certificates(status_doc(), NOW)
    assert rows == [
        {
            "service": "web",
            "serial": "1a:2b",
            "spiffe_id": "spiffe://td.consul/ns/default/dc/dc1/svc/web",
            "not_after": "2023-11-15T21:13:50Z",
            "expires_in_seconds": 23 * 3600 + 30,
            "renew_at": "2023-11-15T12:13:20Z",
            "renews_in_seconds": 14 * 3600,
        }
    ]
    line = render_certs(rows, NOW).splitlines()[1]
    assert "2023-11-15T21:13:50Z (in 23h)" in line
    assert "2023-11-15T12:13:20Z (in 14h)" in line


def test_a_service_without_a_certificate_is_called_out() -> None:
    doc = status_doc()
    doc["services"][0]["certificate"] = None
    assert "NO CERTIFICATE" in render_certs(certificates(doc, NOW), NOW)


def test_status_json_is_the_agents_document_unchanged(admin: AdminStandIn) -> None:
    admin.document = status_doc(future_field={"x": 1})
    run = meshctl("status", "--admin", admin.url, "-o", "json")
    assert run.code == 0
    assert json.loads(run.out) == admin.document


def test_status_exits_1_when_the_agent_is_not_ready(admin: AdminStandIn) -> None:
    admin.document = status_doc(ready=False, not_ready_reasons=["no certificates yet"])
    assert meshctl("--admin", admin.url, "status").code == 1


def test_certs_exits_1_when_a_service_has_no_certificate(admin: AdminStandIn) -> None:
    admin.document = status_doc()
    admin.document["services"][0]["certificate"] = None
    assert meshctl("certs", "--admin", admin.url).code == 1


def test_an_agent_that_does_not_answer_is_exit_2_with_a_sentence_not_a_traceback() -> None:
    run = meshctl("status", "--admin", f"http://127.0.0.1:{free_port('127.0.0.1')}")
    assert run.code == 2
    assert run.err.startswith("meshctl: cannot reach the agent's admin API at http://127.0.0.1:")
    assert "Traceback" not in run.err
