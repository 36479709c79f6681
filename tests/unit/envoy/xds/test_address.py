"""The xDS server listens only where the host alone can reach it."""

from __future__ import annotations

import socket
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from mesh.envoy.xds import AdsServer, InvalidListenAddress, XdsServerError
from mesh.envoy.xds.address import ListenAddress, parse_listen_address


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("unix:/run/mesh/ads.sock", ListenAddress(unix_path=PurePosixPath("/run/mesh/ads.sock"))),
        ("127.0.0.1:0", ListenAddress(host="127.0.0.1", port=0)),
        ("127.0.0.9:18000", ListenAddress(host="127.0.0.9", port=18000)),
        ("[::1]:18000", ListenAddress(host="::1", port=18000)),
    ],
)
def test_local_addresses_are_taken(text: str, parsed: ListenAddress) -> None:
    assert parse_listen_address(text) == parsed


def test_grpc_targets() -> None:
    assert parse_listen_address("[::1]:5").grpc_target == "[::1]:5"
    assert parse_listen_address("unix:/a/b").grpc_target == "unix:/a/b"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0.0.0.0:18000", "not a loopback address"),
        ("10.0.0.5:18000", "not a loopback address"),
        ("[::]:18000", "not a loopback address"),
        ("localhost:18000", "not an IP address"),
        ("127.0.0.1:99999", "port must be"),
        ("127.0.0.1:-1", "port must be"),
        ("127.0.0.1", "expected unix:/path"),
        ("unix:relative.sock", "absolute"),
        ("unix://host/path", "absolute"),
        ("unix:/" + "a" * 120, "longer than 107"),
        ("unix:/tmp/a\x00b", "NUL"),
        ("unix:/tmp/..", "names no file"),
    ],
)
def test_other_addresses_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidListenAddress, match=reason):
        parse_listen_address(text)


def test_start_refuses_a_network_address(run: Any) -> None:
    async def body() -> None:
        with pytest.raises(InvalidListenAddress, match="must not be reachable from the network"):
            await AdsServer().start("0.0.0.0:0")

    run(body())


def test_start_needs_the_socket_directory(run: Any, tmp_path: Path) -> None:
    async def body() -> None:
        with pytest.raises(XdsServerError, match="does not exist"):
            await AdsServer().start(f"unix:{tmp_path}/missing/ads.sock")

    run(body())


def test_start_refuses_a_path_that_is_not_a_socket(run: Any, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("mine")

    async def body() -> None:
        with pytest.raises(XdsServerError, match="not a socket"):
            await AdsServer().start(f"unix:{tmp_path}/file")
        assert (tmp_path / "file").read_text() == "mine"

    run(body())


def test_a_stale_socket_file_is_replaced_and_a_live_one_is_not(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "s"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens

    async def body() -> None:
        first = AdsServer()
        await first.start(f"unix:{path}")
        try:
            with pytest.raises(XdsServerError, match="another server is listening"):
                await AdsServer().start(f"unix:{path}")
        finally:
            await first.stop(1)

    run(body())


def test_start_refuses_a_port_in_use(run: Any) -> None:
    async def body() -> None:
        first = AdsServer()
        bound = await first.start("127.0.0.1:0")
        try:
            with pytest.raises(XdsServerError, match="cannot listen"):
                await AdsServer().start(bound)
        finally:
            await first.stop(1)

    run(body())
