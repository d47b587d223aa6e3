"""The one way subgraphs call each other: signed httpx clients and a GraphQL helper."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

import httpx
import orjson

from coursegraph.errors import (
    BadUserInput,
    Conflict,
    DomainError,
    ErrorCode,
    Forbidden,
    NotFound,
    PaymentFailed,
    ServiceUnavailable,
    Unauthenticated,
)
from coursegraph.service_auth import ServiceSigner
from coursegraph.settings import Settings

_ERRORS_BY_CODE: dict[str, type[DomainError]] = {
    ErrorCode.UNAUTHENTICATED: Unauthenticated,
    ErrorCode.FORBIDDEN: Forbidden,
    ErrorCode.BAD_USER_INPUT: BadUserInput,
    ErrorCode.NOT_FOUND: NotFound,
    ErrorCode.CONFLICT: Conflict,
    ErrorCode.PAYMENT_FAILED: PaymentFailed,
}


def signed_path(url: httpx.URL) -> str:
    """The PATH of the canonical string: the path, plus `?query` when there is one."""
    query = url.query.decode("ascii")
    return f"{url.path}?{query}" if query else url.path


class ServiceAuth(httpx.Auth):
    """Adds the HMAC headers to every request of a client."""

    requires_request_body = True

    def __init__(self, signer: ServiceSigner) -> None:
        self._signer = signer

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(
            self._signer.headers(request.method, signed_path(request.url), request.content)
        )
        yield request


def signed_client(
    settings: Settings,
    caller: str,
    base_url: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    signer = ServiceSigner(caller, settings.service_key(caller))
    return httpx.AsyncClient(
        base_url=base_url,
        auth=ServiceAuth(signer),
        timeout=settings.service_timeout_seconds,
        transport=transport,
        limits=httpx.Limits(max_keepalive_connections=20, keepalive_expiry=30),
    )


class GraphQLServiceClient:
    """Runs GraphQL operations against another subgraph, signed as this service.

    Transport failures become SERVICE_UNAVAILABLE; errors the other side reports with a
    contract code are raised again as the same domain error.
    """

    def __init__(self, client: httpx.AsyncClient, service: str, path: str = "/graphql") -> None:
        self._client = client
        self._service = service
        self._path = path

    async def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        body = orjson.dumps({"query": query, "variables": dict(variables or {})})
        try:
            response = await self._client.post(
                self._path,
                content=body,
                headers={"content-type": "application/json", **(headers or {})},
            )
        except httpx.HTTPError as error:
            raise ServiceUnavailable(f"The {self._service} service is unavailable.") from error
        if response.status_code >= 500:
            raise ServiceUnavailable(f"The {self._service} service is unavailable.")
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise ServiceUnavailable(f"The {self._service} service answered badly.") from None
        errors = payload.get("errors")
        if errors:
            first = errors[0]
            code = (first.get("extensions") or {}).get("code", "")
            error_type = _ERRORS_BY_CODE.get(code)
            if error_type is not None:
                raise error_type(first.get("message", "Request refused."))
            raise ServiceUnavailable(
                f"The {self._service} service failed: {first.get('message', 'unknown error')}"
            )
        data: dict[str, Any] = payload.get("data") or {}
        return data

    async def aclose(self) -> None:
        await self._client.aclose()
