"""`coursegraph payments …`: found by the launcher's subgraph registry, which imports no
subgraph by name in code. Heavy imports wait until a command runs."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from subgraphs.payments.reconcile import Violation


@click.group("payments")
def command() -> None:
    """Payments administration."""


@command.command("reconcile")
@click.option("--check", is_flag=True, help="Change nothing; exit 1 on any violation.")
@click.option(
    "--grace-seconds",
    type=float,
    default=None,
    help="Leave rows younger than this alone (default: PAYMENTS_RECONCILE_GRACE_SECONDS).",
)
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Every payment, not only those changed within the refund window and a day.",
)
def reconcile(check: bool, grace_seconds: float | None, everything: bool) -> None:
    """Compare payments, refunds, seats, certificates, outbox rows and the providers'
    records against the money invariants; repair what is safe, report the rest."""
    from coursegraph.settings import get_settings
    from subgraphs.payments.bootstrap import bootstrap

    async def run() -> list[Violation]:
        async with bootstrap(get_settings(), background=False) as container:
            return await container.reconciler.run(
                repair=not check, grace_seconds=grace_seconds, everything=everything
            )

    found = asyncio.run(run())
    for violation in found:
        click.echo(violation.line())
    left = sum(not v.repaired for v in found)
    click.echo(f"{len(found)} violation(s) found, {len(found) - left} repaired, {left} open")
    if left:
        sys.exit(1)
