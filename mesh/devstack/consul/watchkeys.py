"""What a blocking query can watch, and which of those things each write touches (pure).

Consul's state store hands every read a memdb WatchSet: the read adds the watch channels of
what it looked at (a table, one key, a prefix, a service's index entry) and a blocking query
sleeps until one of them closes. A write closes only the channels of what it changed, so a
KV write never wakes a health query, and a check on service A never wakes a watch on B.

Here a watch key names one such thing. Reads name theirs up front (each endpoint's keys are
fixed by its path and query, see the `*_api.py` modules); the functions at the bottom of this
module are the one place that says which keys a write touches. The pairs:

| key                         | read by                                  | touched by a write to                 |
|-----------------------------|------------------------------------------|---------------------------------------|
| table(T)                    | whole-table reads (catalog/services,     | any record of table T                 |
|                             | catalog/nodes, health/state, CA roots)   |                                       |
| service(X)                  | /health/service/X                        | whatever moves X's service index: an  |
|                             |                                          | instance, its checks, its node, the   |
|                             |                                          | node's node-level checks              |
| connect(X)                  | /health/connect/X                        | the same, for proxies fronting X      |
| instances(X)                | /catalog/service/X                       | an instance of X or its node          |
| connect_instances(X)        | /catalog/connect/X                       | a proxy fronting X or its node        |
| node(N)                     | /catalog/node/N                          | node N or a service on it             |
| agent_service(N, ID)        | /agent/service/ID (hash blocking)        | that service record                   |
| node_checks(N)              | /health/node/N                           | a check on node N                     |
| service_checks(X)           | /health/checks/X                         | a check carrying service name X       |
| kv_key(K)                   | /kv/K                                    | key K                                 |
| kv_prefix(P)                | /kv/P?recurse, /kv/P?keys                | any key starting with P               |
| config_kind(K)              | /config/K, intentions (K =               | any entry of kind K                   |
|                             | service-intentions)                      |                                       |
| config_entry(K, N)          | /config/K/N                              | that entry                            |

Whatever a key misses, the query still answers when its wait runs out, with the index it reads
then; whatever a key wakes needlessly costs one re-read that finds its index unmoved and parks
again. Both are what Consul's watches do; the keys aim to do neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mesh.devstack.consul.indexes import CONFIG_ENTRIES, KVS, TOMBSTONES
from mesh.devstack.consul.model import Check, Service
from mesh.devstack.consul.watches import WatchKey
from mesh.devstack.consul.watches import table as table


def service(name: str) -> WatchKey:
    return ("service", name)


def connect(name: str) -> WatchKey:
    return ("connect", name)


def instances(name: str) -> WatchKey:
    return ("instances", name)


def connect_instances(name: str) -> WatchKey:
    return ("connect-instances", name)


def node(name: str) -> WatchKey:
    return ("node", name)


def agent_service(node_name: str, service_id: str) -> WatchKey:
    return ("agent-service", node_name, service_id)


def node_checks(name: str) -> WatchKey:
    return ("node-checks", name)


def service_checks(name: str) -> WatchKey:
    return ("service-checks", name)


def kv_key(key: str) -> WatchKey:
    return ("kv", key)


def kv_prefix(prefix: str) -> WatchKey:
    return ("kv-prefix", prefix)


def config_kind(kind: str) -> WatchKey:
    return ("config-kind", kind)


def config_entry(kind: str, name: str) -> WatchKey:
    return ("config-entry", kind, name)


def connect_targets(svc: Service) -> Iterator[str]:
    """The services an instance serves Connect traffic for: a proxy's destination, or itself when native."""
    if svc.destination:
        yield svc.destination
    if svc.connect_native:
        yield svc.name


# -- what writes touch --------------------------------------------------------------------


def catalog_write(
    *,
    tables: Iterable[str],
    indexed: Iterable[Service] = (),
    viewed: Iterable[Service] = (),
    nodes: Iterable[str] = (),
    checks: Iterable[Check] = (),
) -> set[WatchKey]:
    """The keys of one catalog write.

    `indexed`: instances whose service index moved (their health reads change); `viewed`:
    instances whose catalog view changed (the record itself, or its node's); `nodes`: nodes
    whose record or list of services changed; `checks`: check records written, old and new.
    """
    keys = {table(t) for t in tables}
    for svc in indexed:
        keys.add(service(svc.name))
        keys.update(connect(t) for t in connect_targets(svc))
    for svc in viewed:
        keys.add(instances(svc.name))
        keys.update(connect_instances(t) for t in connect_targets(svc))
        keys.add(agent_service(svc.node, svc.id))
    keys.update(node(n) for n in nodes)
    for check in checks:
        keys.add(node_checks(check.node))
        if check.service_name:
            keys.add(service_checks(check.service_name))
    return keys


def kv_write(keys_written: Iterable[str], *, deleted: bool) -> set[WatchKey]:
    """Each key and every prefix of it (a recurse or keys watch on any of them sees the change)."""
    touched = {table(KVS)}
    if deleted:
        touched.add(table(TOMBSTONES))
    for key in keys_written:
        touched.add(kv_key(key))
        touched.update(kv_prefix(key[:cut]) for cut in range(len(key) + 1))
    return touched


def config_write(entries: Iterable[tuple[str, str]]) -> set[WatchKey]:
    """(kind, name) of each entry written or deleted."""
    touched = {table(CONFIG_ENTRIES)}
    for kind, name in entries:
        touched.add(config_kind(kind))
        touched.add(config_entry(kind, name))
    return touched
