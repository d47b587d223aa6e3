"""`coursegraph users …`: account administration, found by the launcher's subgraph
registry. Heavy imports wait until a command runs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from coursegraph.database import ensure_database
from coursegraph.settings import get_settings, load_section

if TYPE_CHECKING:
    from subgraphs.users.service import UserService

MIGRATIONS = Path(__file__).parent / "migrations"
T = TypeVar("T")


@click.group("users")
def command() -> None:
    """Account administration."""


@command.command("create-admin")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--password",
    envvar="COURSEGRAPH_ADMIN_PASSWORD",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for unless COURSEGRAPH_ADMIN_PASSWORD is set.",
)
def create_admin(email: str, name: str, password: str) -> None:
    """Create an ADMIN account (admins cannot register themselves)."""

    async def create(users: UserService) -> str:
        return str((await users.create_admin(email, password, name)).id)

    click.echo(f"admin created: {_with_users(create)}")


def _with_users(action: Callable[[UserService], Awaitable[T]]) -> T:
    """Run `action` on users' service layer, on a migrated database."""
    from coursegraph import migrations
    from subgraphs.users.bootstrap import bootstrap
    from subgraphs.users.models import Base

    settings, embedded = ensure_database(get_settings())
    url = settings.database_url_for("users")

    async def run() -> T:
        await asyncio.to_thread(migrations.upgrade, MIGRATIONS, Base.metadata, url)
        async with bootstrap(settings) as container:
            return await action(container.users)

    try:
        return asyncio.run(run())
    except Exception as error:  # a domain error's message is meant for people
        raise click.ClickException(str(error)) from None
    finally:
        if embedded is not None:
            embedded.stop()


@command.command("rotate-keys")
def rotate_keys() -> None:
    """Add a new JWT signing key; restart users to sign with it."""
    from subgraphs.users.bootstrap import key_store
    from subgraphs.users.settings import UsersSettings

    store = key_store(get_settings(), load_section(UsersSettings))
    store.load(create=False)
    key = store.rotate()
    click.echo(f"new signing key {key.kid} in {store.folder}")


@command.command("set-role")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(["STUDENT", "TEACHER", "ADMIN"]))
def set_role(email: str, role: str) -> None:
    """Change an account's role; its access tokens already issued stop working."""

    async def change(users: UserService) -> str:
        return str((await users.set_role(email, role)).id)

    click.echo(f"role of {_with_users(change)} is now {role}; old access tokens are revoked")


@command.command("delete")
@click.option("--email", required=True)
@click.confirmation_option(prompt="Delete this account and its sessions?")
def delete_account(email: str) -> None:
    """Delete an account; its sessions end and its access tokens stop working."""

    async def delete(users: UserService) -> None:
        await users.delete_account(email)

    _with_users(delete)
    click.echo(f"deleted {email}")


@command.command("unlock")
@click.option("--email", default=None, help="Clear the sign-in lockout of this account.")
@click.option("--address", default=None, help="Clear the throttles of this client IP address.")
def unlock(email: str | None, address: str | None) -> None:
    """Clear sign-in, registration and refresh throttle counts (an account, an address)."""
    if email is None and address is None:
        raise click.UsageError("give --email, --address or both")

    async def unlock(users: UserService) -> int:
        return await users.unlock(email=email, address=address)

    click.echo(f"unlocked: {_with_users(unlock)} throttle count(s) cleared")
