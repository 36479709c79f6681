"""KV: values, recursion, check-and-set, and the indexes blocking watches rely on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import requests

from ..conftest import ConsulUnderTest


def test_a_value_reads_back_with_its_indexes_and_flags(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    key = unique("kv/config")
    assert c.kv.put(key, "v1", flags=42) is True
    index, entry = c.kv.get(key)
    assert entry is not None
    assert entry["Value"] == b"v1"
    assert entry["Flags"] == 42
    assert entry["LockIndex"] == 0
    assert entry["CreateIndex"] == entry["ModifyIndex"] == int(index)


def test_a_missing_key_is_404_with_an_empty_body_and_an_index(
    consul: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    resp = requests.get(f"{consul.url}/v1/kv/{unique('absent')}", timeout=5)
    assert resp.status_code == 404
    assert resp.content == b""
    assert int(resp.headers["X-Consul-Index"]) >= 1
    assert resp.headers["X-Consul-KnownLeader"] == "true"


def test_raw_returns_the_bare_value(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    key = unique("raw")
    consul.client().kv.put(key, '{"a": 1}')
    resp = requests.get(f"{consul.url}/v1/kv/{key}?raw", timeout=5)
    assert resp.status_code == 200
    assert resp.text == '{"a": 1}'


def test_recursive_put_list_and_delete(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    prefix = unique("mesh") + "/config/"
    for kind in ("service-splitter/api", "service-router/api", "service-resolver/db"):
        c.kv.put(prefix + kind, kind)
    _, entries = c.kv.get(prefix, recurse=True)
    assert [e["Key"] for e in entries] == [
        prefix + "service-resolver/db",
        prefix + "service-router/api",
        prefix + "service-splitter/api",
    ]
    _, keys = c.kv.get(prefix, keys=True, separator="/")
    assert keys == [prefix + "service-resolver/", prefix + "service-router/", prefix + "service-splitter/"]
    assert c.kv.delete(prefix + "service-router/", recurse=True) is True
    _, entries = c.kv.get(prefix, recurse=True)
    assert [e["Key"] for e in entries] == [prefix + "service-resolver/db", prefix + "service-splitter/api"]
    c.kv.delete(prefix, recurse=True)
    assert c.kv.get(prefix, recurse=True)[1] is None


def test_cas_zero_creates_only_when_absent(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    key = unique("cas/create")
    assert c.kv.put(key, "first", cas=0) is True
    assert c.kv.put(key, "second", cas=0) is False
    assert c.kv.get(key)[1]["Value"] == b"first"


def test_cas_writes_only_over_the_index_it_read(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    key = unique("cas/update")
    c.kv.put(key, "v1")
    seen = c.kv.get(key)[1]["ModifyIndex"]
    assert c.kv.put(key, "v2", cas=seen) is True
    assert c.kv.put(key, "v3", cas=seen) is False, "a stale index must not overwrite"
    assert c.kv.get(key)[1]["Value"] == b"v2"


def test_cas_delete_needs_the_current_index(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    key = unique("cas/delete")
    c.kv.put(key, "v1")
    current = c.kv.get(key)[1]["ModifyIndex"]
    assert c.kv.delete(key, cas=current + 1000) is False
    assert c.kv.delete(key, cas=current) is True
    assert c.kv.get(key)[1] is None


def test_a_blocking_read_waits_while_nothing_changes(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    key = unique("watch/idle")
    c.kv.put(key, "v1")
    index, _ = c.kv.get(key)
    started = time.monotonic()
    again, entry = c.kv.get(key, index=index, wait="1s")
    assert time.monotonic() - started >= 0.9, "a blocking read must not return before its wait"
    assert again == index
    assert entry["Value"] == b"v1"


def test_a_blocking_read_returns_soon_after_a_write(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    key = unique("watch/write")
    c.kv.put(key, "v1")
    index, _ = c.kv.get(key)
    writer = threading.Timer(0.3, lambda: consul.client().kv.put(key, "v2"))
    writer.start()
    try:
        started = time.monotonic()
        new_index, entry = c.kv.get(key, index=index, wait="30s")
        elapsed = time.monotonic() - started
    finally:
        writer.join()
    assert entry["Value"] == b"v2"
    assert int(new_index) > int(index)
    assert elapsed < 1.3, f"the watch returned {elapsed:.2f}s after it started, write at 0.3s"


def test_a_write_elsewhere_does_not_end_a_watch_on_an_existing_key(
    consul: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    c = consul.client()
    key, other = unique("watch/mine"), unique("watch/other")
    c.kv.put(key, "v1")
    index, _ = c.kv.get(key)
    writer = threading.Timer(0.2, lambda: consul.client().kv.put(other, "x"))
    writer.start()
    started = time.monotonic()
    again, _ = c.kv.get(key, index=index, wait="1s")
    writer.join()
    assert again == index
    assert time.monotonic() - started >= 0.9


def test_a_watch_on_a_deleted_key_wakes_with_a_404_and_a_higher_index(
    consul: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    c = consul.client()
    key = unique("watch/deleted")
    c.kv.put(key, "v1")
    index, _ = c.kv.get(key)
    writer = threading.Timer(0.2, lambda: consul.client().kv.delete(key))
    writer.start()
    resp = requests.get(f"{consul.url}/v1/kv/{key}", params={"index": index, "wait": "10s"}, timeout=15)
    writer.join()
    assert resp.status_code == 404
    assert int(resp.headers["X-Consul-Index"]) > int(index)


def test_indexes_are_never_reported_as_zero(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    resp = requests.get(f"{consul.url}/v1/kv/{unique('never')}/", params={"recurse": ""}, timeout=5)
    assert int(resp.headers["X-Consul-Index"]) >= 1
