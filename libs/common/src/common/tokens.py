"""JWT tokens and principals, with no Django import (usable by scripts, the demo and the CLI).

Tokens carry ``sub``, ``tenant``, ``roles``, ``exp``, ``iss="lendsimple"``, ``aud="lendsimple"``.
Development signs HS256 with ``LENDSIMPLE_JWT_SECRET``; production verifies RS256 with the PEM in
``LENDSIMPLE_JWT_PUBLIC_KEY`` (when it is set, HS256 is not accepted at all).

Mint a development token::

    python -m common.auth mint --tenant acme --roles admin --sub alice
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field

import jwt

ISSUER = "lendsimple"
AUDIENCE = "lendsimple"
# Development default only: `make run` and the tests use it unless LENDSIMPLE_JWT_SECRET is set.
DEV_SECRET = "lendsimple-dev-secret-do-not-use-in-production"

ROLE_ORDER = ("viewer", "collector", "loan_officer", "admin")
SERVICE_ROLE = "service"
KNOWN_ROLES = (*ROLE_ORDER, SERVICE_ROLE)


@dataclass(frozen=True)
class Principal:
    subject: str
    tenant: str
    roles: frozenset[str] = field(default_factory=frozenset)
    # the bearer token it was read from: a service asking another on this caller's behalf presents it, so the
    # other service applies the caller's own object grants (``service_http.service_get(on_behalf_of=…)``)
    token: str = field(default="", repr=False, compare=False)

    @property
    def level(self) -> int:
        """Index in ROLE_ORDER of the highest role held; -1 for none."""
        return max((ROLE_ORDER.index(r) for r in self.roles if r in ROLE_ORDER), default=-1)

    def has_role(self, role: str) -> bool:
        if self.is_service:
            # services only read from each other (``service_http.service_get``): a service token, which travels
            # between pods, can read every object of its tenant but change nothing
            return role == ROLE_ORDER[0]
        return self.level >= ROLE_ORDER.index(role)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_service(self) -> bool:
        return SERVICE_ROLE in self.roles

    @property
    def sees_all(self) -> bool:
        """Admins and services see every object of their tenant; others only what they are granted."""
        return self.is_admin or self.is_service


class InvalidToken(Exception):
    pass


def jwt_secret() -> str:
    """The HS256 secret; in production (``LENDSIMPLE_ENV``) a missing or development one is refused
    (``common.conf.secret``: every HTTP service asks for it at start)."""
    from common.conf import secret

    return secret("LENDSIMPLE_JWT_SECRET", DEV_SECRET)


def _verification_key() -> tuple[str, list[str]]:
    public_key = os.environ.get("LENDSIMPLE_JWT_PUBLIC_KEY")
    if public_key:
        return public_key, ["RS256"]
    return jwt_secret(), ["HS256"]


def decode_token(token: str) -> Principal:
    key, algorithms = _verification_key()
    try:
        claims = jwt.decode(token, key, algorithms=algorithms, audience=AUDIENCE, issuer=ISSUER,
                            options={"require": ["exp", "sub", "iss", "aud"]})
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    tenant, roles = claims.get("tenant"), claims.get("roles", [])
    if not isinstance(tenant, str) or not tenant or len(tenant) > 64:
        raise InvalidToken("tenant claim missing or invalid")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise InvalidToken("roles claim must be a list of strings")
    return Principal(subject=str(claims["sub"]), tenant=tenant, roles=frozenset(r for r in roles if r in KNOWN_ROLES),
                     token=token)


def mint_token(*, tenant: str, roles: list[str] | tuple[str, ...], sub: str = "dev", ttl: int = 3600,
               secret: str | None = None, private_key: str | None = None) -> str:
    now = int(time.time())
    claims = {"sub": sub, "tenant": tenant, "roles": list(roles), "iss": ISSUER, "aud": AUDIENCE,
              "iat": now, "exp": now + ttl}
    if private_key:
        return jwt.encode(claims, private_key, algorithm="RS256")
    return jwt.encode(claims, secret or jwt_secret(), algorithm="HS256")


def service_token(*, tenant: str, service: str, ttl: int = 300) -> str:
    """A short-lived token one service presents to another, acting for ``tenant``."""
    private_key = os.environ.get("LENDSIMPLE_JWT_PRIVATE_KEY")
    return mint_token(tenant=tenant, roles=[SERVICE_ROLE], sub=f"service:{service}", ttl=ttl, private_key=private_key)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.auth", description="LendSimple development tokens")
    sub = parser.add_subparsers(dest="command", required=True)
    mint = sub.add_parser("mint", help="print a signed development token")
    mint.add_argument("--tenant", required=True)
    mint.add_argument("--roles", default="admin", help="comma-separated: admin,loan_officer,collector,viewer")
    mint.add_argument("--sub", default="dev")
    mint.add_argument("--ttl", type=int, default=3600, help="seconds")
    args = parser.parse_args(argv)
    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    unknown = [r for r in roles if r not in KNOWN_ROLES]
    if unknown:
        parser.error(f"unknown roles: {', '.join(unknown)}")
    print(mint_token(tenant=args.tenant, roles=roles, sub=args.sub, ttl=args.ttl))
    return 0


if __name__ == "__main__":
    sys.exit(main())
