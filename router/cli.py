"""`coursegraph router`: serve a supergraph with uvicorn; `coursegraph router plan` prints
the query plan of an operation without serving or calling any subgraph.

The process entry point: the one place of the router that reads the settings
(`get_settings()`); everything below gets them handed in (router/bootstrap.py).

`--config` takes the router's YAML. Its format is a superset of rover's `supergraph.yaml`,
so `--config supergraph.yaml` composes the listed subgraphs at start-up, and a router.yaml
with only router settings reads the supergraph from `--supergraph` or `supergraph.path`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

import click
from starlette.applications import Starlette

from coursegraph import serving
from coursegraph.log import configure_logging, get_logger
from coursegraph.settings import Environment, Settings, get_settings
from router.api_schema import build_api_schema
from router.bootstrap import build_app
from router.operation import Operations
from router.planner.builder import PlanError
from router.prepared import OperationError
from router.source import LoadError, SupergraphSource

_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Router YAML: router.yaml settings and/or rover-style subgraphs to compose "
    "(supergraph.yaml).",
)
_supergraph_option = click.option(
    "--supergraph",
    "supergraph_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Supergraph SDL file, when the config does not compose one.",
)


@click.group("router", invoke_without_command=True)
@_config_option
@_supergraph_option
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
@click.pass_context
def router_command(
    ctx: click.Context,
    config_path: Path | None,
    supergraph_path: Path | None,
    watch: bool | None,
    host: str,
    port: int,
    log_level: str | None,
    workers: int | None,
) -> None:
    """Run the federation router (or a subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings(log_level)
    if watch is None:
        watch = settings.environment is Environment.DEVELOPMENT
    source = SupergraphSource(config_path, supergraph_path, settings=settings)
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


@router_command.command("plan")
@_config_option
@_supergraph_option
@click.option(
    "--query",
    "query_file",
    type=click.File("r", encoding="utf-8"),
    required=True,
    help="File holding the operation, or - for stdin.",
)
@click.option("--variables", default=None, help="Variables as a JSON object.")
@click.option("--operation-name", default=None, help="The operation to plan, if several.")
@click.option("--json", "as_json", is_flag=True, help="Apollo's query-plan JSON shape.")
@click.option(
    "--override-labels",
    default="",
    help="Progressive @override labels on, comma separated (default: none).",
)
def plan_command(
    config_path: Path | None,
    supergraph_path: Path | None,
    query_file: TextIO,
    variables: str | None,
    operation_name: str | None,
    as_json: bool,
    override_labels: str,
) -> None:
    """Print the query plan of an operation: the fetches the router would send, without
    calling any subgraph. Variables matter only where @skip/@include/@defer read them; a
    @defer fragment is planned as a deferred block, as a multipart client gets it; with
    progressive @override, the plan is the one for the labels given as on."""
    try:
        values: Any = json.loads(variables) if variables is not None else None
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"not JSON: {error}", param_hint="--variables") from None
    if values is not None and not isinstance(values, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--variables")
    try:
        source = SupergraphSource(config_path, supergraph_path, settings=get_settings())
        supergraph = source.load().supergraph
    except LoadError as error:
        raise click.ClickException(f"no supergraph to plan against: {error}") from None
    # No edge checks (limits, safelist, authorization): the plan of the operation itself.
    operations = Operations(supergraph, build_api_schema(supergraph), capacity=1)
    try:
        prepared = operations.prepare(query_file.read(), operation_name)
        labels = frozenset(label.strip() for label in override_labels.split(",") if label.strip())
        coerced = operations.coerce_variables(prepared, values)
        planned = operations.planned(prepared, coerced, labels=labels, incremental=True)
    except OperationError as error:
        messages = [f"{e['extensions']['code']}: {e['message']}" for e in error.errors]
        raise click.ClickException("\n".join(messages)) from None
    except PlanError as error:
        raise click.ClickException(f"QUERY_PLANNING_FAILED: {error}") from None
    plan = planned.plan
    click.echo(json.dumps(plan.to_json(), indent=2) if as_json else plan.to_text())


def _settings(log_level: str | None) -> Settings:
    settings = get_settings()
    if log_level is not None:
        settings = settings.model_copy(update={"log_level": log_level})
    configure_logging(settings)
    return settings


def worker_app() -> Starlette:
    """The app of one `router --workers N` worker process."""
    args = serving.factory_args()
    settings = _settings(args["log_level"])
    source = SupergraphSource(
        Path(args["config_path"]) if args["config_path"] else None,
        Path(args["supergraph_path"]) if args["supergraph_path"] else None,
        settings=settings,
    )
    return build_app(source, settings, watch=args["watch"])
