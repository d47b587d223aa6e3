"""Where subgraph SDL comes from: `supergraph.yaml` in rover's format.

Each subgraph names its `routing_url` and a `schema` block with one of `file` (path
relative to the YAML file), `sdl` (inline text) or `subgraph_url` (a running subgraph asked
for `{ _service { sdl } }`). Without a schema block the routing URL itself is asked, as
rover does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

SERVICE_SDL_QUERY = "query SubgraphSdl { _service { sdl } }"


class SourceError(ValueError):
    """supergraph.yaml is malformed, or a subgraph's SDL cannot be read."""


@dataclass(frozen=True, slots=True)
class SubgraphSource:
    name: str
    url: str
    sdl: str
    origin: str = ""  # file path or URL, for messages


@dataclass(frozen=True, slots=True)
class SubgraphConfig:
    name: str
    routing_url: str
    file: Path | None = None
    sdl: str | None = None
    introspect_url: str | None = None


def read_config(path: Path) -> list[SubgraphConfig]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise SourceError(f"cannot read {path}: {error}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("subgraphs"), Mapping):
        raise SourceError(f"{path}: expected a mapping with `subgraphs`")
    configs = []
    for name, entry in data["subgraphs"].items():
        if not isinstance(entry, Mapping):
            raise SourceError(f"{path}: subgraph {name!r} must be a mapping")
        routing_url = str(entry.get("routing_url") or "")
        schema: Mapping[str, Any] = entry.get("schema") or {}
        file = schema.get("file")
        configs.append(
            SubgraphConfig(
                name=str(name),
                routing_url=routing_url,
                file=(path.parent / str(file)).resolve() if file else None,
                sdl=schema.get("sdl"),
                introspect_url=schema.get("subgraph_url") or (None if file else routing_url),
            )
        )
        if not routing_url and not schema.get("subgraph_url") and not file:
            raise SourceError(f"{path}: subgraph {name!r} has neither routing_url nor schema")
    return configs


def fetch_sdl(
    url: str,
    *,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
    auth: httpx.Auth | None = None,
) -> str:
    """Ask a running subgraph for its SDL (the federation `_service` field); `auth`
    signs the call for subgraphs that answer only signed callers."""
    own = client is None
    http = client or httpx.Client(timeout=timeout)
    try:
        response = http.post(
            url,
            json={"query": SERVICE_SDL_QUERY},
            auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
        )
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError) as error:
        raise SourceError(f"cannot fetch SDL from {url}: {error}") from None
    finally:
        if own:
            http.close()
    sdl = ((body.get("data") or {}).get("_service") or {}).get("sdl")
    if not isinstance(sdl, str):
        raise SourceError(f"{url} did not answer _service {{ sdl }}: {body.get('errors')}")
    return sdl


def load_source(
    config: SubgraphConfig, *, timeout: float = 10.0, auth: httpx.Auth | None = None
) -> SubgraphSource:
    if config.sdl is not None:
        return SubgraphSource(config.name, config.routing_url, config.sdl, "inline sdl")
    if config.file is not None:
        try:
            text = config.file.read_text(encoding="utf-8")
        except OSError as error:
            raise SourceError(f"subgraph {config.name!r}: {error}") from None
        return SubgraphSource(config.name, config.routing_url, text, str(config.file))
    assert config.introspect_url is not None
    sdl = fetch_sdl(config.introspect_url, timeout=timeout, auth=auth)
    return SubgraphSource(config.name, config.routing_url, sdl, config.introspect_url)


def read_sources(path: Path, *, timeout: float = 10.0) -> list[SubgraphSource]:
    """Every subgraph of `supergraph.yaml`, SDL read (or fetched) now, in file order."""
    return [load_source(config, timeout=timeout) for config in read_config(path)]


def watched_paths(path: Path) -> list[Path]:
    """Files whose change can change the composition: the YAML and every schema file.

    For a router that recomposes when they change (subgraphs served by URL must be polled).
    """
    return [path.resolve()] + [c.file for c in read_config(path) if c.file is not None]
