#!/usr/bin/env python
"""Fuzz every service's public API from its own OpenAPI document (schemathesis + hypothesis).

For each operation of borrowers, loans and payments, schemathesis generates requests (valid and
invalid data); each is sent with an admin token of a fresh tenant and again without a token. The
checks: no 5xx, every response conforms to the declared status codes, content type and schema, and
without a token every authenticated operation answers 401. The HMAC webhook (no JWT) is fuzzed with
bodies signed with the processor secret (→ 200/400, never 5xx) and unsigned (→ 401).

Real ids of the fuzz tenant (a borrower, a product, loans, a payment) are substituted for half of
the path parameters, so the handlers behind the 404 are reached too.

    python scripts/fuzz.py                 # full budget against a fresh stack (make fuzz)
    python scripts/fuzz.py --examples 50   # smaller budget
    python scripts/fuzz.py --use-running   # against a running `make run` stack (8001-8003)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "libs" / "common" / "src"))

from common.tokens import mint_token  # noqa: E402

API_SERVICES = ("borrowers", "loans", "payments")
WEBHOOK = "/api/v1/webhooks/processor"
# Path parameter name → kind of seeded object whose real id may be substituted.
ID_KINDS = {"borrower_id": "borrower", "product_id": "product", "loan_id": "loan", "payment_id": "payment",
            "run_id": "run"}


@dataclass
class FuzzResult:
    service: str
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 500)

    def line(self) -> str:
        codes = ", ".join(f"{s}:{n}" for s, n in sorted(self.statuses.items()))
        return (f"{self.service:<10} requests {self.requests:>6}  5xx {self.server_errors}  "
                f"failures {len(self.failures)}  [{codes}]")


def seed_objects(urls: dict[str, str], tenant: str) -> dict[str, list[str]]:
    """A few real objects of the fuzz tenant, through the public API."""
    from chaos import Api, seed_active_loans

    api = Api(urls, tenant)
    ids: dict[str, list[str]] = {k: [] for k in ID_KINDS.values()}
    loans = seed_active_loans(api, 2, principal="5000.00", term=12)
    ids["loan"] += [loan["id"] for loan in loans]
    ids["product"].append(loans[0]["product_id"])
    ids["borrower"].append(loans[0]["borrower_id"])
    pending = api.post("loans", "/loans", {"borrower_id": loans[0]["borrower_id"],
                                           "product_id": loans[0]["product_id"], "principal": "1000.00", "term": 6})
    ids["loan"].append(pending["id"])
    payment = api.post("payments", "/payments", {"loan_id": loans[0]["id"], "amount": "10.00", "currency": "USD",
                                                 "method": "ach", "value_date": loans[0]["disbursement_date"]})
    ids["payment"].append(payment["id"])
    run = api.post("loans", "/accrual-runs", {"through": loans[0]["disbursement_date"]})
    ids["run"].append(run["id"])
    return ids


def _checks():
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    return [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def fuzz_service(base_url: str, service: str, *, examples: int, tenant: str, ids: dict[str, list[str]] | None = None,
                 seed: int = 0, min_requests: int = 0, max_rounds: int = 6) -> FuzzResult:
    """``examples`` generated cases per operation and generation mode; each sent with and without a token."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed
    from schemathesis import GenerationMode

    raw = httpx.get(f"{base_url}/api/v1/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(raw)
    result = FuzzResult(service)
    checks = _checks()
    admin = {"Authorization": f"Bearer {mint_token(tenant=tenant, roles=['admin'], sub='fuzz-admin')}"}
    session = requests.Session()
    _case_runner = _runner_factory(base_url, session, admin, ids or {}, checks, result)

    ops = [r.ok() for r in schema.get_all_operations()]
    ops = [op for op in ops if op.path != WEBHOOK]
    # Small operations (no parameters) run out of distinct examples early: further rounds, with other
    # seeds, until the service has had at least `min_requests` requests.
    for round_ in range(max_rounds):
        for op in ops:
            authenticated = bool(raw["paths"][op.path][op.method.lower()].get("security"))
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                test = settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                                suppress_health_check=list(HealthCheck))(
                    given(case=op.as_strategy(generation_mode=mode))(_case_runner(op, authenticated)))
                try:
                    hseed(seed + round_)(test)()
                except Exception as exc:  # an unsatisfiable strategy etc.: report, go on with the next one
                    result.failures.append(f"{op.method.upper()} {op.path} [{mode.value}]: generation error "
                                           f"{exc!r}"[:600])
        if result.requests >= min_requests:
            break
    return result


def _runner_factory(base_url, session, admin, ids, checks, result):
    import requests

    def factory(op, authenticated):
        counter = [0]

        def run_case(case):
            counter[0] += 1
            if counter[0] % 2 == 0 and case.path_parameters:
                for name in list(case.path_parameters):
                    pool = ids.get(ID_KINDS.get(name, ""), [])
                    if pool:
                        case.path_parameters[name] = pool[counter[0] % len(pool)]
            where = f"{op.method.upper()} {op.path}"
            for headers in (admin, {}):
                try:
                    response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
                except requests.RequestException as exc:
                    result.failures.append(f"{where}: transport error {exc!r}")
                    continue
                result.requests += 1
                result.statuses[response.status_code] += 1
                if not headers and authenticated and response.status_code != 401:
                    result.failures.append(f"{where} without a token -> {response.status_code}")
                try:
                    case.validate_response(response, checks=checks, headers=headers)
                except (Exception, BaseExceptionGroup) as exc:  # schemathesis: Failure or FailureGroup
                    result.failures.append(f"{where} -> {response.status_code}: {str(exc)[:600]}")

        return run_case

    return factory


def fuzz_webhook(base_url: str, *, examples: int, seed: int = 0, ids: dict[str, list[str]] | None = None,
                 tenant: str = "") -> FuzzResult:
    """Signed bodies (random JSON and callback-shaped ones) → 200/400; unsigned → 401; never 5xx."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services" / "payments"))
    from payments.providers.signing import sign, webhook_secret

    result = FuzzResult("webhook")
    client = httpx.Client(timeout=30)
    url = f"{base_url}{WEBHOOK}"
    payment_ids = (ids or {}).get("payment", []) + [str(uuid.UUID(int=0))]
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
    anything = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c,
                                                                                           max_size=4), max_leaves=12)
    shaped = st.fixed_dictionaries({
        "event_id": st.text(max_size=80) | st.integers(), "type": st.sampled_from(
            ["charge.settled", "charge.failed", "charge.returned", "charge.unknown", ""]) | anything,
        "payment_id": st.sampled_from(payment_ids) | st.uuids().map(str) | anything,
        "tenant_id": st.sampled_from([tenant, "other"]) | anything}, optional={
        "charge_id": st.text(max_size=80) | anything, "reason": st.text(max_size=300) | anything})
    bodies = shaped.map(lambda d: json.dumps(d).encode()) | anything.map(lambda d: json.dumps(d).encode()) \
        | st.binary(max_size=200)

    @hseed(seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(body=bodies, signed=st.booleans())
    def run(body: bytes, signed: bool):
        headers = {"Content-Type": "application/json"}
        if signed:
            headers |= sign(body, secret=webhook_secret())
        response = client.post(url, content=body, headers=headers)
        result.requests += 1
        result.statuses[response.status_code] += 1
        expected = (200, 400) if signed else (401,)
        if response.status_code not in expected:
            result.failures.append(f"webhook signed={signed} -> {response.status_code}: {response.text[:300]}")
        elif response.status_code >= 400 and not response.headers.get("content-type", "").startswith(
                "application/problem+json"):
            result.failures.append(f"webhook -> {response.status_code} not problem+json")

    run()
    return result


def fuzz_all(urls: dict[str, str], *, examples: int, seed: int = 0, min_requests: int = 0,
             echo=print) -> list[FuzzResult]:
    tenant = f"fuzz-{uuid.uuid4().hex[:8]}"
    ids = seed_objects(urls, tenant)
    results = []
    for service in API_SERVICES:
        started = time.monotonic()
        res = fuzz_service(urls[service], service, examples=examples, tenant=tenant, ids=ids, seed=seed,
                           min_requests=min_requests - (examples * 2 if service == "payments" else 0))
        if service == "payments":
            hook = fuzz_webhook(urls[service], examples=examples * 2, seed=seed, ids=ids, tenant=tenant)
            res.requests += hook.requests
            res.statuses.update(hook.statuses)
            res.failures += hook.failures
        echo(f"{res.line()}  {time.monotonic() - started:.0f}s")
        results.append(res)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=50,
                        help="cases per operation and generation mode (each sent with and without a token)")
    parser.add_argument("--min-requests", type=int, default=1000, help="at least this many requests per service")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", "11")))
    parser.add_argument("--use-running", action="store_true", help="target a running make-run stack")
    args = parser.parse_args()
    from chaos import own_stack

    started = time.monotonic()
    if args.use_running:
        urls = {s: os.environ.get(f"LENDSIMPLE_{s.upper()}_URL", f"http://127.0.0.1:{p}")
                for s, p in (("borrowers", 8001), ("loans", 8002), ("payments", 8003))}
        results = fuzz_all(urls, examples=args.examples, seed=args.seed, min_requests=args.min_requests)
    else:
        with own_stack("lendsimple_fuzz") as stack:
            results = fuzz_all({s: stack.url(s) for s in API_SERVICES}, examples=args.examples, seed=args.seed,
                               min_requests=args.min_requests)
    failures = [f for r in results for f in r.failures]
    for f in failures[:40]:
        print("FAIL", f)
    total = sum(r.requests for r in results)
    errors = sum(r.server_errors for r in results)
    print(f"fuzz: {total} requests, 5xx {errors}, schema/contract failures {len(failures)}, "
          f"min per service {min(r.requests for r in results)}, {time.monotonic() - started:.0f}s")
    return 1 if failures or errors else 0


if __name__ == "__main__":
    sys.exit(main())
