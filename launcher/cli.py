"""The `coursegraph` command."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from coursegraph.database import ensure_database
from coursegraph.settings import SUBGRAPHS, get_settings
from launcher import migrations, subgraph_registry
from launcher.events import events

if TYPE_CHECKING:
    from starlette.applications import Starlette

REPO_ROOT = Path(__file__).resolve().parent.parent
# `schema check` and `compose` read the same subgraph list.
config_option = click.option(
    "--config",
    type=click.Path(path_type=Path),
    default=None,
    help="supergraph.yaml (default: the repository's).",
)


@click.group()
def main() -> None:
    """Coursegraph: federated GraphQL backend for course platforms."""


@main.command()
def dev() -> None:
    """Run the whole stack locally (embedded PostgreSQL unless DATABASE_URL is set)."""
    from launcher.devstack import DevStack

    sys.exit(DevStack(get_settings()).run())


@main.command()
@click.argument("subgraph", type=click.Choice(SUBGRAPHS))
@click.option("--host", default=None, help="Bind address (default: HOST setting).")
@click.option("--port", type=int, default=None, help="Port (default: <SUBGRAPH>_PORT).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (default: WORKERS setting).",
)
def serve(subgraph: str, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve one subgraph with uvicorn (needs DATABASE_URL)."""
    from coursegraph import serving

    settings = get_settings()
    workers = workers or settings.resolved_workers
    if workers > 1 and not settings.redis_url:
        # Each worker would keep its own nonces: a signed request could be replayed to
        # another worker inside its window.
        raise click.UsageError("several workers need REDIS_URL to share the HMAC nonces")
    serving.run(
        subgraph_registry.create_app(subgraph, settings),
        "launcher.cli:subgraph_app",
        {"subgraph": subgraph},
        workers=workers,
        host=host or settings.host,
        port=port or settings.port(subgraph),
    )


def subgraph_app() -> Starlette:
    """The app of one `serve --workers N` worker process."""
    from coursegraph import serving

    return subgraph_registry.create_app(serving.factory_args()["subgraph"], get_settings())


@main.command()
@click.argument("subgraphs", nargs=-1, type=click.Choice(SUBGRAPHS))
def migrate(subgraphs: tuple[str, ...]) -> None:
    """Apply migrations (all existing subgraphs unless named)."""
    settings, embedded = ensure_database(get_settings())
    try:
        for name in subgraphs or subgraph_registry.available():
            migrations.upgrade(name, settings.database_url_for(name))
            click.echo(f"{name}: migrated")
    finally:
        if embedded is not None:
            embedded.stop()


@main.group()
def schema() -> None:
    """Subgraph schema files."""


@schema.command("export")
def schema_export() -> None:
    """Write each subgraph's SDL to subgraphs/<name>/schema.graphql."""
    for name in subgraph_registry.available():
        path = REPO_ROOT / "subgraphs" / name / "schema.graphql"
        path.write_text(subgraph_registry.schema_sdl(name))
        click.echo(f"wrote {path.relative_to(REPO_ROOT)}")


@schema.command("check")
@config_option
@click.option(
    "--base",
    default=None,
    help="Git ref whose supergraph.graphql is the baseline (default: merge base "
    "with origin/main, else HEAD~1).",
)
@click.option(
    "--ack",
    type=click.Path(path_type=Path),
    default=None,
    help="Reviewed breaking changes, one coordinate per line (default: schema-changes.ack).",
)
def schema_check(config: Path | None, base: str | None, ack: Path | None) -> None:
    """Registry checks: exports, composition, supergraph, API changes, client operations."""
    from router.composition import check

    def export_sdl(name: str) -> str | None:
        if name not in subgraph_registry.available():
            return None
        return subgraph_registry.schema_sdl(name)

    report = check.run_check(
        REPO_ROOT,
        config or REPO_ROOT / "supergraph.yaml",
        supergraph=REPO_ROOT / "supergraph.graphql",
        base=base or check.default_base(REPO_ROOT),
        ack=ack or REPO_ROOT / check.DEFAULT_ACK,
        export_sdl=export_sdl,
    )
    click.echo(report.render())
    sys.exit(0 if report.ok else 1)


@main.command()
@config_option
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the supergraph (default: supergraph.graphql; - for stdout).",
)
def compose(config: Path | None, output: Path | None) -> None:
    """Compose the subgraphs of supergraph.yaml into a Federation v2 supergraph."""
    from router.composition import SourceError, compose_config

    try:
        result = compose_config(config or REPO_ROOT / "supergraph.yaml")
    except SourceError as error:
        raise click.ClickException(str(error)) from None
    if result.supergraph_sdl is None:
        for problem in result.errors:
            click.echo(str(problem), err=True)
        raise click.ClickException(f"composition failed with {len(result.errors)} error(s)")
    if output is not None and str(output) == "-":
        click.echo(result.supergraph_sdl, nl=False)
        return
    target = output or REPO_ROOT / "supergraph.graphql"
    target.write_text(result.supergraph_sdl, encoding="utf-8")
    click.echo(f"wrote {target}")


@main.command()
def seed() -> None:
    """Load demo teachers, students and ~30 courses (idempotent; refused in production)."""
    from launcher.seeding import seed_demo_data

    base = get_settings()
    if base.is_production:
        raise click.ClickException("Demo data is for development, not production.")
    settings, embedded = ensure_database(base)
    try:
        seeded = asyncio.run(seed_demo_data(settings))
        click.echo("\n".join([seeded.summary, *seeded.account_lines()]))
    except Exception as error:  # a domain error's message is meant for people
        raise click.ClickException(str(error)) from None
    finally:
        if embedded is not None:
            embedded.stop()


def _register_router() -> None:
    try:
        from router.cli import router_command
    except ImportError:
        return
    main.add_command(router_command, "router")


main.add_command(events)
_register_router()
for _command in subgraph_registry.commands():
    main.add_command(_command)

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
