"""`coursegraph router`: serve a supergraph with uvicorn."""

from __future__ import annotations

from pathlib import Path

import click
import uvicorn

from coursegraph.settings import get_settings
from router.config import load_config
from router.edge_auth import EdgeAuthenticator
from router.server import create_app
from router.service import Router
from router.supergraph import Supergraph


@click.command("router")
@click.option(
    "--supergraph",
    "supergraph_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Supergraph SDL file (else router.yaml supergraph.path).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True, type=int)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="router.yaml with the other router settings.",
)
@click.option("--log-level", default="info", show_default=True)
def router_command(
    supergraph_path: Path | None, host: str, port: int, config_path: Path | None, log_level: str
) -> None:
    """Run the federation router."""
    config = load_config(config_path)
    path = supergraph_path or config.supergraph.path
    if path is None:
        raise click.UsageError("give --supergraph FILE or supergraph.path in router.yaml")
    router = Router(Supergraph.from_file(path), config)
    authenticator = (
        EdgeAuthenticator.from_settings(get_settings(), config.auth.jwks_url)
        if config.auth.verify_tokens
        else None
    )
    uvicorn.run(
        create_app(router, authenticator),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        loop="auto",
        http="auto",
    )
