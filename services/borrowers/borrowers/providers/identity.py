"""Identity verification (KYC) provider: an interface, and its HTTP implementation (httpx, async).

The wire protocol, spoken by the sandbox (``sandbox_identity``) and by an adapter in front of a real
vendor::

    POST {base}/v1/verifications
      {"reference": "<borrower id>", "first_name", "last_name", "email", "date_of_birth": "YYYY-MM-DD"|null,
       "address": <string or object>|null}
    200 {"status": "verified", "reference": "<provider reference>"}
    200 {"status": "rejected", "reason": "<why>"}

The request is idempotent on ``reference``. A timeout, a connection error, a 429/5xx or a malformed
answer is ``IdentityProviderUnavailable`` (transient: the caller retries later); any other 4xx is
``IdentityProviderError`` (the request itself is wrong).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx
from common.service_http import shared_client
from django.conf import settings

VERIFICATIONS_PATH = "/v1/verifications"


@dataclass(frozen=True)
class IdentityCheckRequest:
    reference: str
    first_name: str
    last_name: str
    email: str
    date_of_birth: str | None = None
    address: str | dict[str, Any] | None = None


@dataclass(frozen=True)
class IdentityCheckResult:
    status: Literal["verified", "rejected"]
    reference: str | None = None
    reason: str = ""

    @property
    def verified(self) -> bool:
        return self.status == "verified"


class IdentityProviderError(Exception):
    """The provider refused the request as malformed: retrying the same request will not help."""


class IdentityProviderUnavailable(IdentityProviderError):
    """The provider did not answer usefully (timeout, outage, 429/5xx): retry later."""


class IdentityProvider(Protocol):
    async def verify(self, request: IdentityCheckRequest) -> IdentityCheckResult: ...


class HttpIdentityProvider:
    """The identity provider over HTTP, through the event loop's shared client (``common.service_http``)."""

    def __init__(self, base_url: str, *, timeout: float = 5.0, connect_timeout: float = 2.0,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = httpx.Timeout(timeout, connect=min(connect_timeout, timeout))
        self.transport = transport

    async def verify(self, request: IdentityCheckRequest) -> IdentityCheckResult:
        body = {"reference": request.reference, "first_name": request.first_name, "last_name": request.last_name,
                "email": request.email, "date_of_birth": request.date_of_birth, "address": request.address}
        try:
            if self.transport is None:
                response = await shared_client().post(f"{self.base_url}{VERIFICATIONS_PATH}", json=body,
                                                      timeout=self.timeout)
            else:   # tests inject a transport
                async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout,
                                             transport=self.transport) as client:
                    response = await client.post(VERIFICATIONS_PATH, json=body)
        except httpx.TimeoutException as exc:
            raise IdentityProviderUnavailable(f"identity provider timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise IdentityProviderUnavailable(f"identity provider unreachable: {type(exc).__name__}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise IdentityProviderUnavailable(f"identity provider answered {response.status_code}")
        if response.status_code != 200:
            raise IdentityProviderError(f"identity provider refused the request: {response.status_code}")
        return _parse_result(response)


def _parse_result(response: httpx.Response) -> IdentityCheckResult:
    try:
        data = response.json()
    except ValueError as exc:
        raise IdentityProviderUnavailable("identity provider answered with malformed JSON") from exc
    status = data.get("status") if isinstance(data, dict) else None
    if status == "verified" and isinstance(data.get("reference"), str) and data["reference"]:
        return IdentityCheckResult(status="verified", reference=data["reference"][:128])
    if status == "rejected":
        return IdentityCheckResult(status="rejected", reason=str(data.get("reason") or "rejected")[:500])
    raise IdentityProviderUnavailable("identity provider answered with an unexpected document")


def default_provider() -> IdentityProvider:
    """The provider configured by ``LENDSIMPLE_IDENTITY_URL`` / ``LENDSIMPLE_IDENTITY_TIMEOUT``."""
    return HttpIdentityProvider(settings.LENDSIMPLE_IDENTITY_URL, timeout=settings.LENDSIMPLE_IDENTITY_TIMEOUT)
