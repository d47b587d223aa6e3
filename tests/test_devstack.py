"""The dev stack's restart pauses (the restarts themselves: tests/e2e/test_devstack.py)."""

from __future__ import annotations

from launcher.devstack import RESTART_MAX_DELAY_SECONDS, restart_delay


def test_restart_pause_doubles_with_each_crash_in_a_row_up_to_a_cap() -> None:
    assert [restart_delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert restart_delay(6) == RESTART_MAX_DELAY_SECONDS
    assert restart_delay(100_000) == RESTART_MAX_DELAY_SECONDS
