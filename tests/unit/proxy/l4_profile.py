"""A focused L4 micro-benchmark: both listeners in this process, the app and the client in others.

    client --plain--> OutboundListener --mTLS--> InboundListener --plain--> echo app

Run from the repository root (not collected by pytest):
    .venv/bin/python -m tests.unit.proxy.l4_profile pp 5000 100 1      # round trips, size, connections
    .venv/bin/python -m tests.unit.proxy.l4_profile setups 200 1 1     # connect, 1-byte exchange, close
    ... prof                                                          # and print a cProfile of the run
LOOP=asyncio runs it on the default event loop instead of uvloop. It prints this process's CPU
time per round trip and per relayed chunk (a round trip is four: two per listener), or per
connection (its setup, including both TLS handshakes, one exchange and the close). The figure
is process CPU time, so other work on the machine skews it less than wall time, but still does
(cache, frequency): compare runs interleaved, several each.
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mesh.certs.leaf import Leaf
from mesh.certs.material import TlsMaterial, build_material
from mesh.config.model import AgentConfig, LocalService, Upstream
from mesh.proxy.inbound import InboundListener
from mesh.proxy.outbound import OutboundListener
from mesh.proxy.relay import HALF_CLOSE_LINGER
from mesh.proxy.state import LiveState
from mesh.proxy.tracker import ConnectionTracker
from mesh.snapshot.endpoints import Endpoint
from mesh.snapshot.model import MeshSnapshot, UpstreamKey
from mesh.telemetry.metrics import Metrics
from tests.support.pki import TD, make_ca, make_leaf, spiffe

APP = r"""
import socket, threading, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(512); print(s.getsockname()[1], flush=True)
def serve(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        d = c.recv(65536)
        if not d: break
        c.sendall(d)
    c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

CLIENT = r"""
import socket, sys, time, threading
port, mode, n, size, conns = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
msg = b"x" * size
def pingpong():
    c = socket.create_connection(("127.0.0.1", port)); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for _ in range(n):
        c.sendall(msg); got = 0
        while got < size:
            d = c.recv(65536); assert d; got += len(d)
    c.close()
def setups():
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", port)); c.sendall(b"x"); assert c.recv(10) == b"x"; c.close()
target = pingpong if mode == "pp" else setups
ts = [threading.Thread(target=target) for _ in range(conns)]
t0 = time.perf_counter()
[t.start() for t in ts]; [t.join() for t in ts]
print(time.perf_counter() - t0, flush=True)
"""


def material(tmp: Path) -> TlsMaterial:
    ca = make_ca()
    leaves: dict[str, tuple[Leaf, str, str]] = {}
    for name in ("web", "api"):
        issued = make_leaf(ca, [spiffe(name)])
        cert, key = tmp / f"{name}.pem", tmp / f"{name}.key"
        cert.write_text(issued.cert_pem)
        key.write_text(issued.key_pem)
        now = time.time()
        leaf = Leaf(name, spiffe(name), issued.cert_pem, issued.key_pem, "", "1", now - 60, now + 3600, now + 3000)
        leaves[name] = (leaf, str(cert), str(key))
    return build_material(TD, (ca.cert_pem,), leaves)


async def run(mode: str, n: int, size: int, conns: int, profile: bool) -> None:
    app = subprocess.Popen([sys.executable, "-c", APP], stdout=subprocess.PIPE, text=True)
    assert app.stdout is not None
    app_port = int(app.stdout.readline())
    tmp = Path(tempfile.mkdtemp())
    api = LocalService("api", "api-1", port=app_port)
    up = Upstream("api", 0)
    web = LocalService("web", "web-1", port=1, upstreams=(up,))
    config = AgentConfig("n1", "127.0.0.1", services=(web, api), intentions_default="allow")
    state = LiveState(config, "dc1", TD)
    state.tls = material(tmp)
    metrics = Metrics()
    inbound = InboundListener(state, metrics, ConnectionTracker())
    inbound.bind("127.0.0.1", 0)
    serving = asyncio.create_task(inbound.serve())
    ep = Endpoint("api", "dc1", "n1", "127.0.0.1", inbound.port, "api-1")
    state.snapshot = MeshSnapshot(endpoints={UpstreamKey("api", "dc1"): (ep,)})
    out = OutboundListener(web, up, state, metrics)
    await out.start()
    assert out.server is not None
    port = out.server.sockets[0].getsockname()[1]

    def client(rounds: int, connections: int) -> str:
        argv = [sys.executable, "-c", CLIENT, str(port), mode, str(rounds), str(size), str(connections)]
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout

    await asyncio.to_thread(client, 50, 1)  # warm-up
    prof = cProfile.Profile() if profile else None
    c0 = time.process_time()
    if prof:
        prof.enable()
    wall = float(await asyncio.to_thread(client, n, conns))
    if prof:
        prof.disable()
    cpu = time.process_time() - c0
    total = n * conns
    if mode == "pp":
        print(
            f"pingpong size={size} conns={conns}: {total / wall:.0f} rt/s, cpu {cpu / total * 1e6:.1f} us/round trip,"
            f" {cpu / total / 4 * 1e6:.1f} us/relayed chunk"
        )
    else:
        print(f"setups conns={conns}: {total / wall:.0f} conn/s, cpu {cpu / total * 1e6:.1f} us/connection")
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(45)
    if mode != "pp":
        # The closed connections' relays linger (a client EOF cannot cross the TLS hop): let them end.
        await asyncio.sleep(HALF_CLOSE_LINGER + 0.5)
    serving.cancel()
    out.close()
    await out.drain(0)
    await inbound.drain(0)
    await asyncio.sleep(0.1)
    app.kill()


if __name__ == "__main__":
    mode, n, size, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    profile = len(sys.argv) > 5 and sys.argv[5] == "prof"
    loop = os.environ.get("LOOP", "uvloop")
    if loop == "uvloop":
        import uvloop

        uvloop.run(run(mode, n, size, conns, profile))
    else:
        asyncio.run(run(mode, n, size, conns, profile))
