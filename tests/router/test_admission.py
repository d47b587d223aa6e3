"""Operations in flight (router/admission.py): at most `limit` run at once, in arrival
order, except that none waits while every one in flight is waiting for subgraphs; counts
return to zero whatever happens to an operation (answered, failed, cancelled)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from router.admission import Admission, Ticket
from router.config import RouterConfig
from tests.router.test_traffic import NO_PREFLIGHT, _concurrent, flaky_router  # noqa: F401


async def _settle() -> None:
    """Let every task that can go on run (a waiter's task resumes a turn after its future)."""
    for _ in range(3):
        await asyncio.sleep(0)


async def _entered(admission: Admission, count: int) -> list[asyncio.Task[Ticket]]:
    tasks = [asyncio.create_task(admission.enter()) for _ in range(count)]
    await _settle()
    return tasks


def test_the_limit_holds_and_the_queue_keeps_arrival_order() -> None:
    async def run() -> None:
        admission = Admission(2)
        tasks = await _entered(admission, 4)
        assert [t.done() for t in tasks] == [True, True, False, False]
        assert (admission.in_flight, admission.working, len(admission.queue)) == (2, 2, 2)
        tasks[1].result().close()
        await _settle()
        assert [t.done() for t in tasks] == [True, True, True, False]
        for task in tasks[:3]:
            task.result().close()
        await _settle()
        tasks[3].result().close()
        assert (admission.in_flight, admission.working, len(admission.queue)) == (0, 0, 0)

    asyncio.run(run())


def test_no_one_waits_while_every_operation_in_flight_waits_for_subgraphs() -> None:
    async def run() -> None:
        admission = Admission(1)
        first, second, third = await _entered(admission, 3)
        assert not second.done()
        ticket = first.result()
        ticket.sent()  # its only branch waits for a subgraph: the CPU would idle
        await _settle()
        assert second.done()
        assert not third.done()
        assert (admission.in_flight, admission.working) == (2, 1)
        ticket.sent()  # a second request out changes nothing
        ticket.answered()
        ticket.answered()  # back at work, over the limit: it was let in before
        assert (admission.in_flight, admission.working) == (2, 2)
        ticket.close()
        second.result().close()
        await _settle()
        third.result().close()
        assert (admission.in_flight, admission.working, len(admission.queue)) == (0, 0, 0)

    asyncio.run(run())


def test_a_request_still_out_at_close_does_not_count_afterwards() -> None:
    async def run() -> None:
        admission = Admission(1)
        ticket = await admission.enter()
        ticket.sent()
        ticket.sent()
        ticket.answered()
        ticket.close()  # a branch failed; another's request is still out
        assert (admission.in_flight, admission.working) == (0, 0)
        ticket.answered()
        ticket.close()
        assert (admission.in_flight, admission.working) == (0, 0)

    asyncio.run(run())


def test_cancelled_waiters_give_back_what_they_were_given() -> None:
    async def run() -> None:
        admission = Admission(1)
        first, second, third = await _entered(admission, 3)
        second.cancel()  # gave up in the queue
        await _settle()
        first.result().close()
        await _settle()
        assert third.done()
        assert third.result() is not None
        # Let in and cancelled before it ran: its place goes on to the next.
        fourth, fifth = await _entered(admission, 2)
        third.result().close()
        fourth.cancel()
        await _settle()
        assert fourth.cancelled()
        assert fifth.done()
        fifth.result().close()
        assert (admission.in_flight, admission.working, len(admission.queue)) == (0, 0, 0)

    asyncio.run(run())


def test_no_limit_and_a_raised_limit() -> None:
    async def run() -> None:
        unlimited = Admission(None)
        tickets = [t.result() for t in await _entered(unlimited, 50)]
        assert unlimited.in_flight == 50
        for ticket in tickets:
            ticket.close()
        admission = Admission(1)
        tasks = await _entered(admission, 3)
        assert [t.done() for t in tasks] == [True, False, False]
        admission.set_limit(3)  # a reload's configuration
        await _settle()
        assert all(t.done() for t in tasks)
        for task in tasks:
            task.result().close()
        assert (admission.in_flight, admission.working) == (0, 0)

    asyncio.run(run())


def test_the_limit_is_configurable_and_can_be_switched_off() -> None:
    assert RouterConfig().limits.operations_in_flight == 8
    config = RouterConfig.model_validate({"limits": {"operations_in_flight": None}})
    assert config.limits.operations_in_flight is None
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        RouterConfig.model_validate({"limits": {"operations_in_flight": 0}})


def test_a_slow_subgraph_holds_no_operation_back(flaky_router: Any) -> None:  # noqa: F811
    """One operation in flight at most, yet five slow ones wait for the subgraph together:
    each goes in as soon as the ones before it only wait for answers."""
    url, flaky = flaky_router(
        "basic", "accounts", delay=0.5, limits={"operations_in_flight": 1, "cost_extension": False}
    )
    results = asyncio.run(_concurrent(url, 5, [NO_PREFLIGHT]))
    assert results == [{"data": {"me": {"id": "u1"}}}] * 5
    assert flaky.peak == 5
    admission = flaky.router.admission
    assert (admission.in_flight, admission.working, len(admission.queue)) == (0, 0, 0)


def test_counts_return_to_zero_after_failures(flaky_router: Any) -> None:  # noqa: F811
    url, flaky = flaky_router(
        "basic",
        "accounts",
        limits={"operations_in_flight": 2, "cost_extension": False},
        traffic={"retry": {"attempts": 0}},
    )
    flaky.failures = 4
    results = asyncio.run(_concurrent(url, 8, [NO_PREFLIGHT]))
    assert sum("errors" in r for r in results) == 4
    assert sum(r == {"data": {"me": {"id": "u1"}}} for r in results) == 4
    admission = flaky.router.admission
    assert (admission.in_flight, admission.working, len(admission.queue)) == (0, 0, 0)
