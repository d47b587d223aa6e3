"""Introspection switched off (`limits.introspection: false`, and by default outside
development): an operation that asks for `__schema` or `__type` anywhere is refused.

Validation allows them on the query root only, where the core finds them all (under
aliases and in fragments) to answer them, so that finding is what is refused here. In the
pipeline only when introspection is off; refusals are cached with the operation.
"""

from __future__ import annotations

from router.checks import OperationCheck
from router.prepared import OperationError, PreparedOperation

MESSAGE = (
    "Introspection is disabled on this router (`__schema` and `__type` are not answered); "
    "set limits.introspection: true in router.yaml to enable it (in production also "
    "ROUTER_EXPOSE_SCHEMA_IN_PRODUCTION=true)."
)


class IntrospectionDisabled(OperationCheck[None]):
    def prepare(self, operation: PreparedOperation) -> None:
        if operation.introspection is not None:
            raise OperationError.of(MESSAGE, "INTROSPECTION_DISABLED")
