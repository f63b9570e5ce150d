"""Helpers of the reliability suite: API clients per tenant and role, the OpenAPI operations, seeded objects."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

import httpx
import jwt
from common.tokens import AUDIENCE, ISSUER, mint_token

API_SERVICES = ("borrowers", "loans", "payments")
WEBHOOK = "/api/v1/webhooks/processor"
PROBLEM = "application/problem+json"


def secret() -> str:
    import os

    return os.environ.get("LENDSIMPLE_JWT_SECRET") or "lendsimple-dev-secret-do-not-use-in-production"


def raw_token(tenant: str, roles=("admin",), *, exp_delta: int = 3600, aud: str = AUDIENCE, iss: str = ISSUER,
              key: str | None = None, alg: str = "HS256", **extra) -> str:
    now = int(time.time())
    claims = {"sub": "rel", "tenant": tenant, "roles": list(roles), "iat": now, "exp": now + exp_delta, "aud": aud,
              "iss": iss, **extra}
    return jwt.encode(claims, key if key is not None else secret(), algorithm=alg)


class Api:
    def __init__(self, urls: dict[str, str], tenant: str, roles=("admin",), token: str | None = None):
        self.urls, self.tenant, self.roles = urls, tenant, roles
        token = token or mint_token(tenant=tenant, roles=list(roles), sub=f"rel-{'-'.join(roles)}")
        self.client = httpx.Client(timeout=60, headers={"Authorization": f"Bearer {token}"})

    @classmethod
    def for_stack(cls, stack, tenant: str, roles=("admin",)) -> Api:
        return cls({s: stack.url(s) for s in API_SERVICES}, tenant, roles)

    def as_role(self, *roles: str) -> Api:
        return Api(self.urls, self.tenant, roles)

    def call(self, method: str, service: str, path: str, **kw) -> httpx.Response:
        if not path.startswith("/api/"):
            path = f"/api/v1{path}"
        return self.client.request(method, f"{self.urls[service]}{path}", **kw)

    def ok(self, method: str, service: str, path: str, body=None, **kw) -> dict:
        r = self.call(method, service, path, json=body, **kw)
        assert r.status_code in (200, 201, 202), f"{method} {path} -> {r.status_code} {r.text[:400]}"
        return r.json()


def wait_for(fetch, done, *, timeout: float = 60, what: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {value}"
        time.sleep(0.25)


PRODUCT = {"name": "rel", "currency": "USD", "annual_rate": "0.12", "term_min": 1, "term_max": 360,
           "frequency": "monthly", "interest_method": "declining_balance", "amortization": "equal_installments",
           "day_count": "30/360", "rounding": {"mode": "half_even", "places": 2},
           "origination_fee": {"type": "flat", "value": "0.00"}, "late_fee": {"amount": "0.00", "grace_days": 10},
           "default_after_days": 90, "allocation_order": ["fees", "interest", "principal"]}
DISBURSED = date.today() - timedelta(days=10)


@dataclass
class OwnedObjects:
    api: Api
    ids: dict[str, str] = field(default_factory=dict)          # path parameter name → id

    def snapshot(self) -> dict[str, dict]:
        """What tenant A sees of each of its objects (to prove nothing changed)."""
        paths = {"borrower": ("borrowers", f"/borrowers/{self.ids['borrower_id']}"),
                 "product": ("loans", f"/products/{self.ids['product_id']}"),
                 "loan": ("loans", f"/loans/{self.ids['loan_id']}"),
                 "pending": ("loans", f"/loans/{self.ids['pending_loan_id']}"),
                 "payment": ("payments", f"/payments/{self.ids['payment_id']}"),
                 "payments": ("payments", f"/payments?loan_id={self.ids['loan_id']}"),
                 "run": ("loans", f"/accrual-runs/{self.ids['run_id']}")}
        return {k: self.api.ok("GET", s, p) for k, (s, p) in paths.items()}


def new_product(api: Api, **overrides) -> dict:
    return api.ok("POST", "loans", "/products", PRODUCT | overrides)


def new_borrower(api: Api) -> dict:
    return api.ok("POST", "borrowers", "/borrowers", {"first_name": "Rel", "last_name": "Iability",
                                                      "email": f"rel.{uuid.uuid4().hex[:10]}@example.com"})


def new_loan(api: Api, *, principal: str = "10000.00", term: int = 24, product: dict | None = None,
             borrower: dict | None = None) -> dict:
    product = product or new_product(api)
    borrower = borrower or new_borrower(api)
    return api.ok("POST", "loans", "/loans", {"borrower_id": borrower["id"], "product_id": product["id"],
                                              "principal": principal, "term": term})


def active_loan(api: Api, **kw) -> dict:
    loan = new_loan(api, **kw)
    api.ok("POST", "loans", f"/loans/{loan['id']}/approve", {})
    return api.ok("POST", "loans", f"/loans/{loan['id']}/disburse", {"disbursement_date": DISBURSED.isoformat()})


def pay(api: Api, loan_id: str, amount: str, *, value_date: date | None = None, key: str | None = None) -> dict:
    return api.ok("POST", "payments", "/payments", {"loan_id": loan_id, "amount": amount, "currency": "USD",
                                                    "method": "ach",
                                                    "value_date": (value_date or date.today()).isoformat()},
                  headers={"Idempotency-Key": key or uuid.uuid4().hex})


def seed_objects(stack, tenant: str) -> OwnedObjects:
    api = Api.for_stack(stack, tenant)
    product = new_product(api)
    borrower = new_borrower(api)
    loan = active_loan(api, product=product, borrower=borrower)
    pending = new_loan(api, product=product, borrower=borrower)
    payment = pay(api, loan["id"], "25.00")
    wait_for(lambda: api.ok("GET", "payments", f"/payments/{payment['id']}"), lambda p: p["status"] == "allocated",
             what="the seed payment allocated")
    run = api.ok("POST", "loans", "/accrual-runs", {"through": date.today().isoformat()})
    wait_for(lambda: api.ok("GET", "loans", f"/accrual-runs/{run['id']}"), lambda r: r["status"] == "completed",
             what="the seed accrual run")
    return OwnedObjects(api, {"borrower_id": borrower["id"], "product_id": product["id"], "loan_id": loan["id"],
                              "pending_loan_id": pending["id"], "payment_id": payment["id"], "run_id": run["id"]})


@dataclass(frozen=True)
class Operation:
    service: str
    method: str
    path: str
    spec: dict

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def authenticated(self) -> bool:
        return bool(self.spec.get("security"))

    @property
    def path_params(self) -> list[str]:
        return [p["name"] for p in self.spec.get("parameters", []) if p["in"] == "path"]

    def url_path(self, ids: dict[str, str]) -> str:
        path = self.path
        for name in self.path_params:
            path = path.replace("{" + name + "}", ids.get(name, str(uuid.uuid4())))
        return path


def operations(stack) -> list[Operation]:
    ops = []
    for service in API_SERVICES:
        doc = httpx.get(f"{stack.url(service)}/api/v1/openapi.json", timeout=30).json()
        for path, methods in doc["paths"].items():
            for method, spec in methods.items():
                ops.append(Operation(service, method.upper(), path, spec))
    return ops
