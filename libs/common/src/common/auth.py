"""Bearer-JWT authentication, principals and role checks (API.md "Auth").

Tokens carry ``sub``, ``tenant``, ``roles``, ``exp``, ``iss="lendsimple"``, ``aud="lendsimple"``.
Development signs HS256 with ``LENDSIMPLE_JWT_SECRET``; production verifies RS256 with the PEM in
``LENDSIMPLE_JWT_PUBLIC_KEY`` (when it is set, HS256 is not accepted at all).

Roles are hierarchical: viewer < collector < loan_officer < admin. A service-to-service call carries
a short-lived token with the role ``service`` minted for the tenant it acts for.

Mint a development token (``common.tokens`` holds the Django-free part)::

    python -m common.auth mint --tenant acme --roles admin --sub alice
"""

from __future__ import annotations

if __name__ == "__main__":  # the CLI needs no Django: don't import ninja for it
    from common.tokens import main as _main

    raise SystemExit(_main())

from ninja.security import HttpBearer  # noqa: E402
from ninja_extra.permissions import AsyncBasePermission  # noqa: E402

from common.logging import bind_contextvars  # noqa: E402
from common.tenancy import set_current_tenant  # noqa: E402
from common.tokens import (  # noqa: E402,F401
    AUDIENCE,
    DEV_SECRET,
    ISSUER,
    KNOWN_ROLES,
    ROLE_ORDER,
    SERVICE_ROLE,
    InvalidToken,
    Principal,
    decode_token,
    jwt_secret,
    main,
    mint_token,
    service_token,
)


class JWTAuth(HttpBearer):
    """ninja auth: verifies the bearer token, sets the tenant contextvar and ``request.principal``.

    Verifying is pure CPU (no I/O), so it runs on the event loop: ``__call__`` is a coroutine function,
    which ninja awaits directly. A sync authenticator would cost every request a ``sync_to_async`` hop
    onto the one thread-sensitive executor thread, where all requests of the worker queue up."""

    async def __call__(self, request):
        return super().__call__(request)

    def authenticate(self, request, token: str) -> Principal | None:
        try:
            principal = decode_token(token)
        except InvalidToken:
            return None
        request.principal = principal
        set_current_tenant(principal.tenant)
        bind_contextvars(tenant_id=principal.tenant, subject=principal.subject)
        return principal


def principal_of(request) -> Principal:
    return request.auth


class HasRole(AsyncBasePermission):
    """ninja-extra permission: the caller holds ``role`` or a higher one (403 otherwise).

    An async permission, so async routes check it on the event loop (ninja-extra runs a sync one through
    ``sync_to_async``: one thread hop per permission per request, for a set lookup)."""

    role = "viewer"
    message = "your role may not do this"

    def has_permission(self, request, controller) -> bool:
        principal = getattr(request, "auth", None)
        return isinstance(principal, Principal) and principal.has_role(self.role)

    async def has_permission_async(self, request, controller) -> bool:
        return self.has_permission(request, controller)

    def has_object_permission(self, request, controller, obj) -> bool:
        return True       # (the async default, True, is AsyncBasePermission's; its sync one would run a loop)

    @classmethod
    def of(cls, role: str) -> type[HasRole]:
        if role not in ROLE_ORDER:
            raise ValueError(f"unknown role {role!r}")
        return type(f"Has_{role}", (cls,), {"role": role, "message": f"requires the {role} role or higher"})


IsViewer = HasRole.of("viewer")
IsCollector = HasRole.of("collector")
IsLoanOfficer = HasRole.of("loan_officer")
IsAdmin = HasRole.of("admin")
