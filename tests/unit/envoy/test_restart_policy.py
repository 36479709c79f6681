"""How long the supervisor waits before starting a dead Envoy again (mesh.envoy.restart_policy)."""

from __future__ import annotations

from mesh.envoy.restart_policy import FIRST_DELAY, MAX_DELAY, STABLE_AFTER, RestartBackoff


def test_crashes_in_a_row_double_the_wait_up_to_the_cap() -> None:
    backoff = RestartBackoff()
    delays = [backoff.delay_after(uptime=0.1) for _ in range(10)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]
    assert (FIRST_DELAY, MAX_DELAY) == (0.5, 30.0)


def test_a_stable_minute_resets_the_wait() -> None:
    backoff = RestartBackoff()
    for _ in range(5):
        backoff.delay_after(uptime=1.0)
    assert backoff.delay_after(uptime=STABLE_AFTER) == FIRST_DELAY
    assert backoff.delay_after(uptime=1.0) == 2 * FIRST_DELAY


def test_a_run_just_short_of_stable_does_not_reset() -> None:
    backoff = RestartBackoff()
    backoff.delay_after(uptime=0.0)
    assert backoff.delay_after(uptime=STABLE_AFTER - 0.001) == 2 * FIRST_DELAY


def test_the_first_delay_can_be_chosen() -> None:
    backoff = RestartBackoff(first=0.1, cap=0.3)
    assert [backoff.delay_after(0.0) for _ in range(4)] == [0.1, 0.2, 0.3, 0.3]
