"""Where the router's supergraph comes from, and which files a reload watches.

Two sources: a supergraph SDL file (`--supergraph`, or `supergraph.path` in the config), or
the subgraphs the config lists with their schemas (rover's `supergraph.yaml`), composed
here by `router.composition`. Everything is synchronous and touches only its inputs, so
the reloader runs it in a worker thread.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml
from graphql import GraphQLError
from pydantic import ValidationError

from coursegraph.http import ServiceAuth
from coursegraph.settings import Settings
from router.composition import SourceError, compose, watched_paths
from router.composition.sources import SubgraphConfig as SubgraphSourceConfig
from router.composition.sources import fetch_sdl, load_source, read_config
from router.config import RouterConfig, load_config
from router.http import router_signer
from router.supergraph import Supergraph

# (path, (inode, mtime, size) or None when missing) per watched file, in order.
Signature = tuple[tuple[Path, tuple[int, int, int] | None], ...]


class LoadError(Exception):
    """No servable supergraph: `details` says why, one line per problem.

    `transient` marks failures worth retrying without any change (a subgraph asked for its
    SDL did not answer, a file could not be read) as opposed to a config or composition
    that is wrong until someone edits it.
    """

    def __init__(self, message: str, details: list[str] | None = None, *, transient: bool = False):
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.transient = transient

    def __str__(self) -> str:
        return "\n".join([self.message, *(f"  {line}" for line in self.details)])


@dataclass(frozen=True, slots=True)
class Loaded:
    supergraph: Supergraph
    config: RouterConfig
    # What the subgraphs read by URL answered, in config order (empty for file sources).
    remote_sdls: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class SupergraphSource:
    config_path: Path | None = None
    supergraph_path: Path | None = None
    timeout_seconds: float = 10.0
    # The router's key signs its requests for subgraphs' SDL, like its queries.
    settings: Settings = field(kw_only=True)

    def load(self) -> Loaded:
        config = self._config()
        if config.composes:
            assert self.config_path is not None
            if self.supergraph_path is not None:
                raise LoadError(
                    f"--supergraph and {self.config_path}'s subgraph schemas are two "
                    "supergraph sources; give one"
                )
            sdl, remote = self._compose(self.config_path, _sdl_auth(config, self.settings))
        else:
            path = self.supergraph_path or config.supergraph.path
            if path is None:
                raise LoadError(
                    "no supergraph: give --supergraph FILE, supergraph.path in router.yaml, "
                    "or a config that lists the subgraphs' schemas (supergraph.yaml)"
                )
            try:
                sdl = Path(path).read_text(encoding="utf-8")
            except OSError as error:
                raise LoadError(f"cannot read the supergraph: {error}", transient=True) from None
            remote = ()
        try:
            supergraph = Supergraph(sdl)
        except (GraphQLError, ValueError, TypeError) as error:
            # graphql-core reports a type used but not defined as a TypeError.
            raise LoadError(f"not a servable supergraph: {error}") from None
        return Loaded(supergraph, config, remote)

    def _config(self) -> RouterConfig:
        try:
            return load_config(self.config_path)
        except ValidationError as error:
            details = [
                f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
                for e in error.errors()
            ]
            raise LoadError(f"{self.config_path}: invalid router config", details) from None
        except OSError as error:
            raise LoadError(f"cannot read {self.config_path}: {error}", transient=True) from None
        except (yaml.YAMLError, ValueError) as error:
            raise LoadError(f"{self.config_path}: {error}") from None

    def _compose(self, path: Path, auth: httpx.Auth | None) -> tuple[str, tuple[str, ...]]:
        try:
            configs = read_config(path)
            sources = [load_source(c, timeout=self.timeout_seconds, auth=auth) for c in configs]
        except SourceError as error:
            raise LoadError(str(error), transient=True) from None
        result = compose(sources)
        if result.supergraph_sdl is None:
            raise LoadError(
                f"composition of {path} failed", [str(error) for error in result.errors]
            )
        remote = tuple(
            source.sdl for c, source in zip(configs, sources, strict=True) if _is_remote(c)
        )
        return result.supergraph_sdl, remote

    # ------------------------------------------------------------------ watching
    def watched(self) -> list[Path]:
        """The files whose change can change what `load` returns (read fresh each time, as
        the config may add a subgraph file or point elsewhere)."""
        base = [self.config_path] if self.config_path is not None else []
        try:
            config = load_config(self.config_path)
        except (OSError, ValueError, yaml.YAMLError):
            # Broken config: watch it (and the explicit supergraph) until it is fixed.
            return [*base, *([self.supergraph_path] if self.supergraph_path else [])]
        if config.composes and self.config_path is not None:
            try:
                return watched_paths(self.config_path)
            except SourceError:
                return base
        path = self.supergraph_path or config.supergraph.path
        return [*([path] if path is not None else []), *base]

    def signature(self) -> Signature:
        out: list[tuple[Path, tuple[int, int, int] | None]] = []
        for path in self.watched():
            try:
                stat = os.stat(path)
            except OSError:
                out.append((path, None))
            else:
                out.append((path, (stat.st_ino, stat.st_mtime_ns, stat.st_size)))
        return tuple(out)

    def remote_sdls(self) -> tuple[str, ...]:
        """What the subgraphs read by URL answer now (raises SourceError when one does not).

        Only for configs that compose; the reloader polls it to notice a subgraph that
        changed its schema without any file changing here."""
        if self.config_path is None:
            return ()
        try:
            config = load_config(self.config_path)
            if not config.composes:
                return ()
            configs = read_config(self.config_path)
        except (OSError, ValueError, yaml.YAMLError):
            return ()  # a broken config is reported by the load its change triggers
        auth = _sdl_auth(config, self.settings)
        return tuple(
            fetch_sdl(c.introspect_url, timeout=self.timeout_seconds, auth=auth)
            for c in configs
            if _is_remote(c) and c.introspect_url is not None
        )


def _sdl_auth(config: RouterConfig, settings: Settings) -> httpx.Auth | None:
    """Signs SDL requests as the router does its queries: subgraphs answer no one else."""
    signer = router_signer(settings, config.auth.sign_subgraph_requests)
    return ServiceAuth(signer) if signer is not None else None


def _is_remote(config: SubgraphSourceConfig) -> bool:
    return config.file is None and config.sdl is None
