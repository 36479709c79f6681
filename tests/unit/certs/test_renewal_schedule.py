"""When a leaf is renewed: Consul's 60-90% rule, counted from when this host obtained it."""

import datetime as dt
import random

import pytest

from mesh.certs.leaf import leaf_from_pems, renew_time
from tests.support.pki import make_ca, make_leaf, spiffe

CA = make_ca()


@pytest.mark.parametrize("seed", range(20))
def test_a_fresh_leaf_renews_between_60_and_90_percent_of_its_lifetime(seed: int) -> None:
    at = renew_time(1000.0, 1100.0, now=1000.0, rng=random.Random(seed))
    assert 1060.0 <= at <= 1090.0


def test_the_renewal_points_of_a_fleet_are_spread_across_the_window() -> None:
    rng = random.Random(7)
    points = [renew_time(0.0, 100.0, now=0.0, rng=rng) for _ in range(200)]
    assert min(points) < 65.0
    assert max(points) > 85.0


def test_past_60_percent_the_point_is_drawn_between_now_and_90_percent() -> None:
    rng = random.Random(3)
    points = [renew_time(0.0, 100.0, now=80.0, rng=rng) for _ in range(50)]
    assert all(80.0 <= p <= 90.0 for p in points)


def test_past_90_percent_the_leaf_renews_at_once() -> None:
    assert renew_time(0.0, 100.0, now=95.0) == 95.0
    assert renew_time(0.0, 100.0, now=150.0) == 150.0


def test_vaults_backdated_not_before_does_not_shorten_the_schedule() -> None:
    # Vault backdates notBefore by 30 s: a 10 s leaf spans 40 s, and counting from notBefore
    # would put its renewal before it was even issued.
    now = dt.datetime.now(dt.UTC)
    issued = make_leaf(
        CA, [spiffe("web")], not_before=now - dt.timedelta(seconds=30), not_after=now + dt.timedelta(seconds=10)
    )
    obtained = now.timestamp()
    leaf = leaf_from_pems("web", issued.cert_pem, issued.key_pem, CA.cert_pem, obtained_at=obtained)
    assert obtained + 6.0 - 1 <= leaf.renew_at <= obtained + 9.0 + 1
    assert leaf.lifetime == pytest.approx(10.0, abs=1)


def test_a_leaf_read_back_long_after_issue_is_not_given_a_renewal_in_the_past() -> None:
    now = dt.datetime.now(dt.UTC)
    issued = make_leaf(
        CA, [spiffe("web")], not_before=now - dt.timedelta(hours=1), not_after=now + dt.timedelta(hours=1)
    )
    leaf = leaf_from_pems(
        "web", issued.cert_pem, issued.key_pem, CA.cert_pem, obtained_at=(now - dt.timedelta(hours=1)).timestamp()
    )
    assert now.timestamp() - 1 <= leaf.renew_at <= (now + dt.timedelta(minutes=48)).timestamp() + 1
