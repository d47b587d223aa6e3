"""Settings whose defaults depend on the environment."""

from __future__ import annotations

import os

from coursegraph.settings import Settings


def test_throttle_window_is_short_outside_production() -> None:
    assert Settings(_env_file=None, COURSEGRAPH_ENV="development").throttle_window_seconds == 60
    assert Settings(_env_file=None, COURSEGRAPH_ENV="test").throttle_window_seconds == 60
    production = Settings(
        _env_file=None, COURSEGRAPH_ENV="production", service_secret_key="a-real-secret"
    )
    assert production.throttle_window_seconds == 900
    # An explicit window wins everywhere; limits are the same in every environment.
    assert Settings(_env_file=None, login_failure_window_seconds=5).throttle_window_seconds == 5
    assert (production.login_max_failures_per_email, production.login_max_failures_per_address) == (
        5,
        20,
    )


def test_workers_default_to_one_outside_production_and_the_cpus_in_it() -> None:
    assert Settings(_env_file=None).resolved_workers == 1
    assert Settings(_env_file=None, workers=3).resolved_workers == 3
    production = Settings(
        _env_file=None, COURSEGRAPH_ENV="production", service_secret_key="a-real-secret"
    )
    assert production.resolved_workers == len(os.sched_getaffinity(0))
