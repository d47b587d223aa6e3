"""The reconciler finds each kind of broken money state, repairs what is safe, and a
clean state has no violation. `--check` changes nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

from subgraphs.payments.bootstrap import bootstrap
from subgraphs.payments.reconcile import Violation
from tests.payments.conftest import Stack, eventually
from tests.payments.test_refunds import paid, sql


async def reconcile(stack: Stack, *, repair: bool) -> list[Violation]:
    """A reconciler in its own container, as `coursegraph payments reconcile` runs it."""
    async with bootstrap(stack.settings, stack.section, background=False) as container:
        return await container.reconciler.run(repair=repair, grace_seconds=0)


def kinds(found: list[Violation]) -> list[str]:
    return sorted(v.kind for v in found)


async def test_a_clean_state_has_no_violation(stack: Stack) -> None:
    await paid(stack)
    created, token, enrollment = await paid(stack)
    (await stack.refund(token, created["id"])).ok()
    await eventually(lambda: enrollment.status == "DROPPED")
    assert await reconcile(stack, repair=False) == []


async def test_a_seat_left_behind_by_a_refund_is_dropped(stack: Stack) -> None:
    created, token, enrollment = await paid(stack)
    (await stack.refund(token, created["id"])).ok()
    await eventually(lambda: enrollment.status == "DROPPED")
    enrollment.status, enrollment.certificate_issued = "COMPLETED", True

    found = await reconcile(stack, repair=False)
    assert kinds(found) == ["refunded_payment_holds_seat"]
    assert enrollment.status == "COMPLETED"  # --check changes nothing
    repaired = await reconcile(stack, repair=True)
    assert [v.repaired for v in repaired] == [True]
    assert enrollment.status == "DROPPED"
    assert await reconcile(stack, repair=False) == []


async def test_a_kept_charge_without_its_seat_gets_it_back(stack: Stack) -> None:
    created, _, enrollment = await paid(stack)
    del stack.courses.enrollments[enrollment.id]
    assert kinds(await reconcile(stack, repair=False)) == ["kept_charge_without_seat"]
    await reconcile(stack, repair=True)
    restored = stack.courses.by_payment(created["id"])
    assert restored is not None
    assert restored.status == "ACTIVE"
    assert await reconcile(stack, repair=False) == []


async def test_a_seat_frozen_with_no_refund_is_unfrozen(stack: Stack) -> None:
    _, _, enrollment = await paid(stack)
    enrollment.frozen = True
    assert kinds(await reconcile(stack, repair=False)) == ["frozen_seat_without_refund"]
    await reconcile(stack, repair=True)
    assert enrollment.frozen is False


async def test_a_charge_only_the_provider_knows_is_recorded_then_kept_or_refunded(
    stack: Stack,
) -> None:
    course = stack.course()
    user_id, token = stack.token()
    created = (await stack.create(token, course.id, "SANDBOX")).ok()["createPayment"]
    # The customer paid, and the webhook was lost: only the sandbox's record says so.
    await sql(
        stack,
        "UPDATE payments.sandbox_checkouts SET status = 'SUCCEEDED', gateway_payment_id = $1"
        " WHERE reference = $2",
        f"sbx_pay_{uuid.uuid4().hex[:12]}",
        f"payment-{created['id']}",
    )
    assert kinds(await reconcile(stack, repair=False)) == ["charge_missed"]
    await reconcile(stack, repair=True)
    payment = (await stack.payment(token, created["id"])).ok()["payment"]
    assert payment["status"] == "SUCCEEDED"
    await eventually(lambda: stack.courses.by_payment(created["id"]) is not None)

    # A charge of a closed checkout that slipped through is refunded in full.
    await sql(
        stack,
        "UPDATE payments.payments SET closed_reason = 'SUPERSEDED' WHERE id = $1",
        uuid.UUID(created["id"]),
    )
    assert "closed_charge_kept" in kinds(await reconcile(stack, repair=False))
    await reconcile(stack, repair=True)
    payment = (await stack.payment(token, created["id"])).ok()["payment"]
    assert payment["status"] == "REFUNDED"
    assert user_id


async def test_an_undelivered_effect_is_reported_and_delivered(stack: Stack) -> None:
    course = stack.course()
    _, token = stack.token()
    created = (await stack.create(token, course.id, "SANDBOX")).ok()["createPayment"]
    stack.courses.down = True
    await sql(
        stack,
        "UPDATE payments.sandbox_checkouts SET status = 'SUCCEEDED', gateway_payment_id = $1"
        " WHERE reference = $2",
        "sbx_pay_lost",
        f"payment-{created['id']}",
    )
    # Records the charge; the completion cannot reach courses and waits in the outbox.
    assert kinds(await reconcile(stack, repair=True)) == ["charge_missed", "seats_not_checked"]
    stack.courses.down = False
    assert kinds(await reconcile(stack, repair=False)) == [
        "effect_undelivered",
        "kept_charge_without_seat",
    ]
    await reconcile(stack, repair=True)
    assert stack.courses.by_payment(created["id"]) is not None
    assert await reconcile(stack, repair=False) == []


async def test_the_cli_check_exits_non_zero_on_a_violation(stack: Stack) -> None:
    env = {
        **os.environ,
        "COURSEGRAPH_ENV": "test",
        "DATABASE_URL": stack.settings.database_url_for("payments"),
        "SERVICE_SECRET_KEY": "test-service-secret",
        "COURSES_URL": stack.settings.service_url("courses"),
        "SANDBOX_WEBHOOK_SECRET": stack.section.sandbox.webhook_secret.get_secret_value(),
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "launcher.cli", "payments", "reconcile"]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args, "--grace-seconds", "0"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    created, _, enrollment = await paid(stack)
    clean = await asyncio.to_thread(cli, "--check")
    assert clean.returncode == 0, clean.stderr
    assert "0 violation(s) found" in clean.stdout

    enrollment.frozen = True
    broken = await asyncio.to_thread(cli, "--check")
    assert broken.returncode == 1
    assert "frozen_seat_without_refund" in broken.stdout
    assert created["id"] in broken.stdout
    assert enrollment.frozen is True
    repaired = await asyncio.to_thread(cli)
    assert repaired.returncode == 0, repaired.stdout
    assert "1 repaired, 0 open" in repaired.stdout
    assert enrollment.frozen is False


async def test_a_periodic_pass_skips_history_beyond_the_refund_window(stack: Stack) -> None:
    created, _, enrollment = await paid(stack)
    enrollment.frozen = True
    await sql(
        stack,
        "UPDATE payments.payments SET updated_at = now() - interval '40 days' WHERE id = $1",
        uuid.UUID(created["id"]),
    )
    assert await reconcile(stack, repair=False) == []
    async with bootstrap(stack.settings, stack.section, background=False) as container:
        found = await container.reconciler.run(repair=False, grace_seconds=0, everything=True)
    assert kinds(found) == ["frozen_seat_without_refund"]


async def test_a_seat_for_a_payment_that_never_settled_is_reported(stack: Stack) -> None:
    course = stack.course()
    user_id, token = stack.token()
    created = (await stack.create(token, course.id, "SANDBOX")).ok()["createPayment"]
    stack.courses.enroll(user_id, course.id).payment_id = created["id"]
    found = await reconcile(stack, repair=True)
    assert [(v.kind, v.repaired) for v in found] == [("seat_without_charge", False)]
