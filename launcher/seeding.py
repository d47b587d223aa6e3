"""Demo data for development, shared by `coursegraph seed` and `coursegraph dev`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from coursegraph.settings import Settings
from launcher import migrations


class DemoDataRefused(RuntimeError):
    """Demo accounts with a known password have no place in production."""


@dataclass(frozen=True, slots=True)
class DemoData:
    summary: str  # one line for people: what exists now
    student_email: str  # a demo student to sign in as
    password: str  # every demo account's password
    accounts: tuple[tuple[str, str], ...]  # (email, role) of every demo account

    def account_lines(self) -> list[str]:
        """Every demo account, one line each, for people to sign in with."""
        return [f"{role.lower():<8} {email}" for email, role in self.accounts] + [
            f"password {self.password!r} (every demo account)"
        ]


async def seed_demo_data(settings: Settings) -> DemoData:
    """Demo teachers, students and ~30 courses; idempotent.

    `settings` must name a database (`ensure_database` gives one). This function is a
    composition root: it may use both subgraphs' service layers, which never import each
    other. Accounts are made through users' service layer, never by signing in, so the
    sign-in throttle (wrong passwords tried by hand) cannot stop seeding.
    """
    if settings.is_production:
        raise DemoDataRefused("Demo data is for development, not production.")
    # Imported here: `coursegraph --help` need not load two subgraphs.
    from subgraphs.courses.bootstrap import bootstrap as courses_bootstrap
    from subgraphs.courses.seed import STUDENTS, TEACHERS, seed_demo
    from subgraphs.users.bootstrap import bootstrap as users_bootstrap

    password = settings.seed_password.get_secret_value()
    for name in ("users", "courses"):
        await asyncio.to_thread(migrations.upgrade, name, settings.database_url_for(name))
    async with (
        users_bootstrap(settings, relay=False) as users,
        courses_bootstrap(settings, relay=False) as courses,
    ):

        class Accounts:
            async def ensure(self, email: str, name: str, role: str) -> str:
                user = await users.users.ensure_demo_account(email, password, name, role)
                return str(user.id)

        summary = await seed_demo(courses, Accounts())
    return DemoData(
        summary=(
            f"{summary.teachers} teachers, {summary.students} students "
            f"(password {password!r}); {summary.courses_created} courses created, "
            f"{summary.courses_existing} existed"
        ),
        student_email=STUDENTS[0][0],
        password=password,
        accounts=tuple((email, "TEACHER") for email, _ in TEACHERS)
        + tuple((email, "STUDENT") for email, _ in STUDENTS),
    )
