"""Hosts as Linux network namespaces, joined by a bridge: a small estate of "VMs" on one machine.

Layout (every name carries this run's pid, so concurrent runs never collide):

    meshnet-<pid>-switch   a namespace holding only the bridge `br0`
    meshnet-<pid>-<host>   one per host: `eth0` (a veth into the bridge) with 10.77.<n>.<i>/24, and `lo`
    root namespace         the test runner's own veth into the bridge, 10.77.<n>.1/24

The bridge lives in its own namespace so that deleting the namespaces removes every link
the estate created, the runner's veth included (a veth dies with its peer). `cut` sets a
host's port on the bridge down: the host is unreachable and cannot reach anyone, as when a
VM's network fails, while its processes keep running.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

NAME_PREFIX = "meshnet-"
SUBNET_PREFIX = "10.77"


class NetnsError(RuntimeError):
    """An `ip` command failed while building or changing the estate."""


def ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=15, check=False)
    if done.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def unavailable() -> str | None:
    """Why namespaces cannot be built here, or None: needs root and a working `ip netns`."""
    if os.geteuid() != 0:
        return "network-namespace tests need root (ip netns add)"
    if shutil.which("ip") is None:
        return "network-namespace tests need iproute2's `ip` (make system-deps installs it)"
    probe = f"{NAME_PREFIX}{os.getpid()}-probe"
    try:
        ip("netns", "add", probe)
        ip("-n", probe, "link", "add", "br0", "type", "bridge")
    except NetnsError as exc:
        return f"network namespaces do not work here: {exc}"
    finally:
        with contextlib.suppress(NetnsError):
            ip("netns", "del", probe)
    return None


def sweep_stale() -> None:
    """Remove what runs whose pytest is gone left behind (a killed run skips its teardown):
    the processes still running in their namespaces, then the namespaces."""
    for line in ip("netns", "list").splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(NAME_PREFIX):
            continue
        owner = name.removeprefix(NAME_PREFIX).split("-", 1)[0]
        if not owner.isdigit() or _alive(int(owner)):
            continue
        with contextlib.suppress(NetnsError):
            for pid in ip("netns", "pids", name).split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            ip("netns", "del", name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _free_subnet() -> int:
    """A third octet whose 10.77.<n>.0/24 no interface of the root namespace uses."""
    used = ip("-4", "-o", "addr", "show")
    candidates = list(range(1, 255))
    random.shuffle(candidates)
    for n in candidates:
        if f" {SUBNET_PREFIX}.{n}." not in used:
            return n
    raise NetnsError(f"no free /24 left in {SUBNET_PREFIX}.0.0/16")


@dataclass(frozen=True)
class VirtualHost:
    """One "VM": a namespace with one address on the estate's bridge."""

    name: str
    netns: str
    address: str
    switch_port: str

    def argv(self, argv: list[str]) -> list[str]:
        """Run `argv` inside this host (`ip netns exec` execs it: the pid is the program's)."""
        return ["ip", "netns", "exec", self.netns, *argv]


@dataclass
class Estate:
    """Hosts on one bridge, plus the runner's own address on it. Build with `estate()`."""

    tag: str
    subnet: int
    switch: str
    runner_link: str
    hosts: dict[str, VirtualHost] = field(default_factory=dict)

    @property
    def runner_address(self) -> str:
        return f"{SUBNET_PREFIX}.{self.subnet}.1"

    def address(self, index: int) -> str:
        return f"{SUBNET_PREFIX}.{self.subnet}.{index}"

    def add_host(self, name: str, index: int) -> VirtualHost:
        host = VirtualHost(name, f"{self.tag}-{name}", self.address(index), f"p{index}")
        ip("netns", "add", host.netns)
        # Created in the host's namespace so the bridge side is the only end that moves.
        ip("-n", host.netns, "link", "add", "eth0", "type", "veth", "peer", "name", host.switch_port)
        ip("-n", host.netns, "link", "set", host.switch_port, "netns", self.switch)
        ip("-n", self.switch, "link", "set", host.switch_port, "master", "br0", "up")
        ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
        ip("-n", host.netns, "link", "set", "eth0", "up")
        ip("-n", host.netns, "link", "set", "lo", "up")
        self.hosts[name] = host
        return host

    def cut(self, name: str) -> None:
        ip("-n", self.switch, "link", "set", self.hosts[name].switch_port, "down")

    def restore(self, name: str) -> None:
        ip("-n", self.switch, "link", "set", self.hosts[name].switch_port, "up")

    def destroy(self) -> None:
        """Best effort and idempotent: every namespace goes, each link with it.

        The runner's veth is deleted first and explicitly: a namespace's links are reclaimed
        asynchronously after `ip netns del`, and the address must not outlive the estate.
        """
        with contextlib.suppress(NetnsError):
            ip("link", "del", self.runner_link)
        for netns in [h.netns for h in self.hosts.values()] + [self.switch]:
            with contextlib.suppress(NetnsError):
                ip("netns", "del", netns)


def _runner_link() -> str:
    return f"mr{os.getpid() % 10**8}"  # interface names are at most 15 characters


def _build_switch(net: Estate) -> None:
    ip("netns", "add", net.switch)
    ip("-n", net.switch, "link", "add", "br0", "type", "bridge")
    ip("-n", net.switch, "link", "set", "br0", "up")
    # The runner joins from the root namespace (the namespace of this process).
    ip("-n", net.switch, "link", "add", "runner", "type", "veth", "peer", "name", net.runner_link)
    ip("-n", net.switch, "link", "set", net.runner_link, "netns", str(os.getpid()))
    ip("-n", net.switch, "link", "set", "runner", "master", "br0", "up")
    ip("addr", "add", f"{net.runner_address}/24", "dev", net.runner_link)
    ip("link", "set", net.runner_link, "up")


@contextlib.contextmanager
def estate(hosts: dict[str, int]) -> Iterator[Estate]:
    """Build a bridge and one namespace per `{name: last address octet}`; tear all down on exit."""
    sweep_stale()
    tag = f"{NAME_PREFIX}{os.getpid()}"
    net = Estate(tag, _free_subnet(), f"{tag}-switch", _runner_link())
    try:
        _build_switch(net)
        for name, index in hosts.items():
            net.add_host(name, index)
        yield net
    finally:
        net.destroy()
