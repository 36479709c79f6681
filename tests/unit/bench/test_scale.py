"""The scale case's pure parts: the topology, what each proxy is given, how each is read, the table."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from bench.envoy_config import Address, Inbound, Outbound, TlsFiles, scale_bootstrap
from bench.report import ScaleRow, render_scale_table, scale_ratio, to_json
from bench.scale_topology import (
    CASE,
    agent_services,
    applied_endpoints,
    envoy_holds,
    parse_envoy_stats,
    remote_registration,
    topology,
)
from mesh.snapshot.endpoints import endpoints_from_health

TLS = TlsFiles(Path("/pki/leaf.crt"), Path("/pki/leaf.key"), Path("/pki/bundle.pem"))


def test_twenty_services_declare_sixty_distinct_upstreams_sharing_a_thousand_endpoints() -> None:
    topo = topology()
    assert len(topo.services) == 20
    assert all(len(s.upstreams) == 3 for s in topo.services)
    assert len(set(topo.destinations)) == 60
    assert len(topo.endpoints) == 1000
    per_destination = Counter(e.destination for e in topo.endpoints)
    assert set(per_destination) == set(topo.destinations)
    assert set(per_destination.values()) == {16, 17}
    assert len({(e.address, e.port) for e in topo.endpoints}) == 1000
    assert all(e.address.startswith("10.77.") for e in topo.endpoints)


def test_a_remote_registration_reads_back_as_an_http_endpoint_of_its_destination() -> None:
    endpoint = topology().endpoints[123]
    reg = remote_registration(endpoint)
    assert reg["kind"] == "connect-proxy"
    # What /v1/health/connect/<destination> answers for it, read the way the agent reads it.
    entry = {
        "Node": {"Node": "consul-dev", "Address": "127.0.0.1", "Datacenter": "dc1"},
        "Service": {
            "ID": reg["service_id"],
            "Service": reg["name"],
            "Address": reg["address"],
            "Port": reg["port"],
            "Meta": reg["meta"],
            "Proxy": reg["proxy"],
        },
        "Checks": [],
    }
    (read,) = endpoints_from_health([entry], "dc1")
    assert (read.service, read.address, read.port) == (endpoint.destination, endpoint.address, endpoint.port)
    assert read.instance_id == endpoint.destination_id
    assert read.protocol == "http"


def test_the_agent_config_gives_each_service_its_three_upstream_listeners() -> None:
    topo = topology()
    services = agent_services(topo, "127.0.0.2", list(range(9000, 9020)), list(range(10000, 10060)))
    assert [s["name"] for s in services] == [s.name for s in topo.services]
    binds = [u["local_bind_port"] for s in services for u in s["upstreams"]]
    assert binds == list(range(10000, 10060))
    assert [u["destination_name"] for s in services for u in s["upstreams"]] == list(topo.destinations)
    assert {s["protocol"] for s in services} == {"http"}
    with pytest.raises(ValueError, match="one bind port per upstream"):
        agent_services(topo, "127.0.0.2", list(range(9000, 9020)), [10000])


def test_the_envoy_bootstrap_has_a_listener_and_cluster_per_service_and_upstream_with_every_endpoint() -> None:
    topo = topology()
    inbound = [
        Inbound(s.name, Address("127.0.0.3", 20000 + i), f"{s.name}.sni", TLS, Address("127.0.0.1", 9000 + i))
        for i, s in enumerate(topo.services)
    ]
    outbound = [
        Outbound(
            d,
            Address("127.0.0.3", 30000 + i),
            f"{d}.sni",
            f"spiffe://td/{d}",
            TLS,
            tuple(Address(e.address, e.port) for e in topo.endpoints_of(d)),
        )
        for i, d in enumerate(topo.destinations)
    ]
    boot = scale_bootstrap(
        mode="L7", inbound=inbound, outbound=outbound, client_spiffe="spiffe://td/c", admin=Address("127.0.0.1", 1)
    )
    static = yaml.safe_load(yaml.safe_dump(boot))["static_resources"]  # as Envoy is given it
    assert len(static["listeners"]) == 80
    assert len({listener["address"]["socket_address"]["port_value"] for listener in static["listeners"]}) == 80
    clusters = {c["name"]: c for c in static["clusters"]}
    assert len(clusters) == 80
    members = sum(len(clusters[d]["load_assignment"]["endpoints"][0]["lb_endpoints"]) for d in topo.destinations)
    assert members == 1000
    # Each upstream dials with the destination's SNI and accepts only its identity, over TLS.
    tls = clusters[topo.destinations[7]]["transport_socket"]["typed_config"]
    assert tls["sni"] == f"{topo.destinations[7]}.sni"
    matcher = tls["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"][0]["matcher"]
    assert matcher == {"exact": f"spiffe://td/{topo.destinations[7]}"}
    # Each local service's listener requires a client certificate and runs RBAC before the router.
    first = static["listeners"][0]["filter_chains"][0]
    assert first["filter_chain_match"] == {"server_names": [f"{topo.services[0].name}.sni"]}
    assert first["transport_socket"]["typed_config"]["require_client_certificate"] is True
    assert [f["name"] for f in first["filters"]] == [
        "envoy.filters.network.rbac",
        "envoy.filters.network.http_connection_manager",
    ]


def test_envoy_stats_are_read_as_counts_of_listeners_clusters_and_upstream_members() -> None:
    topo = topology()
    lines = [
        "cluster_manager.active_clusters: 80",
        "listener_manager.total_listeners_active: 80",
        "server.version: 12345",
        "http.admin.downstream_rq_time: P0(nan,0) P25(nan,0)",  # a histogram: not a count
        *(f"cluster.{d}.membership_total: {len(topo.endpoints_of(d))}" for d in topo.destinations),
        "cluster.local-scale-svc-00.membership_total: 1",  # a local app's cluster: not a remote endpoint
    ]
    stats = parse_envoy_stats("\n".join(lines))
    assert "http.admin.downstream_rq_time" not in stats
    assert envoy_holds(stats, topo) == (80, 80, 1000)
    assert envoy_holds({}, topo) == (0, 0, 0)


def test_the_agents_applied_endpoints_are_counted_over_every_upstream_of_its_status() -> None:
    status = {"endpoints": {"a@dc1": [{"address": "10.0.0.1"}] * 3, "b@dc1": [{"address": "10.0.0.2"}] * 2}}
    assert applied_endpoints(status) == 5
    assert applied_endpoints({}) == 0


def test_the_scale_table_shows_both_proxies_and_the_ratio_on_ours() -> None:
    rows = [
        ScaleRow("envoy", CASE, 20, 60, 1000, rss_kib=100 * 1024),
        ScaleRow("mesh", CASE, 1, 60, 1000, rss_kib=80 * 1024),
    ]
    assert scale_ratio(rows) == pytest.approx(0.8)
    lines = render_scale_table(rows).splitlines()
    assert len({len(line) for line in lines}) == 1  # columns aligned
    ours = [c.strip() for c in lines[2].split("|")[1:-1]]
    assert ours == [CASE, "mesh agent", "1+60", "1,000", "80.0 MiB", "0.80x"]
    theirs = [c.strip() for c in lines[3].split("|")[1:-1]]
    assert theirs == [CASE, "envoy (one)", "20+60", "1,000", "100.0 MiB", ""]


def test_an_unmeasured_side_says_why_and_gives_no_ratio() -> None:
    rows = [ScaleRow("mesh", CASE, 1, 60, 1000, rss_kib=80 * 1024), ScaleRow("envoy", CASE, unavailable="no envoy")]
    assert scale_ratio(rows) is None
    assert "n/a (no envoy)" in render_scale_table(rows)
    assert render_scale_table([]) == ""


def test_the_json_has_the_scale_case_only_when_it_ran() -> None:
    rows = [ScaleRow("mesh", CASE, 1, 60, 1000, rss_kib=800), ScaleRow("envoy", CASE, 20, 60, 1000, rss_kib=1000)]
    document = to_json([], {}, rows)
    assert document["scale"]["rss_ratio"] == pytest.approx(0.8)
    assert [r["rss_kib"] for r in document["scale"]["rows"]] == [800, 1000]
    assert "scale" not in to_json([], {})
