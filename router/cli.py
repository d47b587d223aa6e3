"""`coursegraph router`: serve a supergraph with uvicorn.

`--config` takes the router's YAML. Its format is a superset of rover's `supergraph.yaml`,
so `--config supergraph.yaml` composes the listed subgraphs at start-up, and a router.yaml
with only router settings reads the supergraph from `--supergraph` or `supergraph.path`.
"""

from __future__ import annotations

from pathlib import Path

import click
from starlette.applications import Starlette

from coursegraph import serving
from coursegraph.log import configure_logging, get_logger
from coursegraph.settings import Environment, Settings, get_settings
from router.edge_auth import EdgeAuthenticator
from router.reload import Reloader
from router.server import create_app
from router.service import Router
from router.source import LoadError, SupergraphSource


def build_app(
    source: SupergraphSource,
    settings: Settings,
    *,
    watch: bool,
    poll_seconds: float = 1.0,
    sdl_poll_seconds: float = 3.0,
) -> Starlette:
    """The router's composition root: load (or compose) the supergraph, wire the edge and,
    with `watch`, the hot reloader. Raises LoadError when there is nothing to serve."""
    # Taken before loading, so a change made while the first composition runs is reloaded.
    seen = source.signature()
    loaded = source.load()
    try:
        router = Router(loaded.supergraph, loaded.config)
    except ValueError as error:
        raise LoadError(str(error)) from None
    config = loaded.config
    authenticator = (
        EdgeAuthenticator.from_settings(settings, config.auth.jwks_url)
        if config.auth.verify_tokens
        else None
    )
    reloader = (
        Reloader(
            router,
            source,
            seen,
            loaded.remote_sdls,
            poll_seconds=poll_seconds,
            sdl_poll_seconds=sdl_poll_seconds,
        )
        if watch
        else None
    )
    try:
        return create_app(router, authenticator, reloader)
    except ValueError as error:  # an edge section that cannot work, e.g. Redis without a URL
        raise LoadError(str(error)) from None


@click.command("router")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Router YAML: router.yaml settings and/or rover-style subgraphs to compose "
    "(supergraph.yaml).",
)
@click.option(
    "--supergraph",
    "supergraph_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Supergraph SDL file, when the config does not compose one.",
)
@click.option(
    "--watch/--no-watch",
    default=None,
    help="Reload the supergraph when its sources change (default: on when "
    "COURSEGRAPH_ENV=development).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True, type=int)
@click.option("--log-level", default=None, help="Log level (default: the LOG_LEVEL setting).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (default: WORKERS setting).",
)
def router_command(
    config_path: Path | None,
    supergraph_path: Path | None,
    watch: bool | None,
    host: str,
    port: int,
    log_level: str | None,
    workers: int | None,
) -> None:
    """Run the federation router."""
    settings = _settings(log_level)
    if watch is None:
        watch = settings.environment is Environment.DEVELOPMENT
    source = SupergraphSource(config_path=config_path, supergraph_path=supergraph_path)
    # Built here even for several workers, so a supergraph that cannot load is refused
    # once, with its reason, rather than by every worker again and again.
    try:
        app = build_app(source, settings, watch=watch)
    except LoadError as error:
        raise click.ClickException(f"the router cannot start: {error}") from None
    workers = workers or settings.resolved_workers
    get_logger("router").info(
        "router starting",
        host=host,
        port=port,
        config=str(config_path) if config_path else None,
        watch=watch,
        workers=workers,
    )
    serving.run(
        app,
        "router.cli:worker_app",
        {
            "config_path": str(config_path) if config_path else None,
            "supergraph_path": str(supergraph_path) if supergraph_path else None,
            "watch": watch,
            "log_level": log_level,
        },
        workers=workers,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
    )


def _settings(log_level: str | None) -> Settings:
    settings = get_settings()
    if log_level is not None:
        settings = settings.model_copy(update={"log_level": log_level})
    configure_logging(settings)
    return settings


def worker_app() -> Starlette:
    """The app of one `router --workers N` worker process."""
    args = serving.factory_args()
    source = SupergraphSource(
        config_path=Path(args["config_path"]) if args["config_path"] else None,
        supergraph_path=Path(args["supergraph_path"]) if args["supergraph_path"] else None,
    )
    return build_app(source, _settings(args["log_level"]), watch=args["watch"])
