"""What the router shows beyond the data, by environment: the schema (introspection,
GraphiQL), query plans and cost figures. router.yaml decides each within what the
deployment's settings allow; these are the only places that weigh the two."""

from __future__ import annotations

from coursegraph.settings import Environment, Settings
from router.config import RouterConfig


def exposes_schema(settings: Settings) -> bool:
    """Production shows no schema (introspection, GraphiQL) whatever router.yaml says,
    unless ROUTER_EXPOSE_SCHEMA_IN_PRODUCTION says so: a config copied from development
    must not publish the whole API, internal names and all."""
    return not settings.is_production or settings.router_expose_schema_in_production


def answers_introspection(config: RouterConfig, settings: Settings) -> bool:
    """limits.introspection, by default only in development, and never where the schema
    is not exposed."""
    introspection = config.limits.introspection
    if introspection is None:
        introspection = settings.environment is Environment.DEVELOPMENT
    return introspection and exposes_schema(settings)


def plan_on_request(config: RouterConfig, settings: Settings) -> bool:
    """Whether `X-Coursegraph-Plan: 1` gets the query plan: debug.query_plan_header, by
    default only in development, and like the schema never in production unless allowed."""
    allowed = config.debug.query_plan_header
    if allowed is None:
        allowed = settings.environment is Environment.DEVELOPMENT
    return allowed and exposes_schema(settings)


def cost_extension(config: RouterConfig, settings: Settings) -> bool:
    """`extensions.cost` on every answer (limits.cost_extension): a development aid, off
    elsewhere by default."""
    extension = config.limits.cost_extension
    if extension is None:
        return settings.environment is Environment.DEVELOPMENT
    return extension
