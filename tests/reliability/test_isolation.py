"""Tenant isolation and authentication matrix, generated from the services' OpenAPI documents.

Every operation the documents list is covered: a new endpoint is tested without touching this file,
and a new write endpoint fails `test_every_write_operation_has_a_minimum_role` until it is classified."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from rel_support import PROBLEM, PRODUCT, WEBHOOK, Api, Operation, operations, raw_token

# The minimum role of every operation that needs more than `viewer` (API.md: collectors record payments
# and collection actions, loan officers change borrowers, loans and their lifecycle, admins configure
# products, run accruals, charge off, write off and assign). Operations not listed are open to viewers.
MIN_ROLE = {
    "POST /api/v1/borrowers": "loan_officer",
    "PATCH /api/v1/borrowers/{borrower_id}": "loan_officer",
    "POST /api/v1/borrowers/{borrower_id}/assign": "admin",
    "POST /api/v1/products": "admin",
    "POST /api/v1/loans": "loan_officer",
    "POST /api/v1/loans/{loan_id}/approve": "loan_officer",
    "POST /api/v1/loans/{loan_id}/deny": "loan_officer",
    "POST /api/v1/loans/{loan_id}/cancel": "loan_officer",
    "POST /api/v1/loans/{loan_id}/disburse": "loan_officer",
    "POST /api/v1/loans/{loan_id}/charge-off": "admin",
    "POST /api/v1/loans/{loan_id}/write-off": "admin",
    "POST /api/v1/loans/{loan_id}/assign": "admin",
    "POST /api/v1/accrual-runs": "admin",
    "POST /api/v1/payments": "collector",
    "POST /api/v1/payments/{payment_id}/return": "collector",
}
# Writes that only compute (no state change) and are open to every role.
READ_ONLY_WRITES = {"POST /api/v1/schedule-preview": "viewer"}
ROLES = ("viewer", "collector", "loan_officer", "admin")


def valid_body(op: Operation, ids: dict[str, str]) -> dict | None:
    """A body the operation accepts (so that what decides the answer is the id, the token or the role)."""
    today = date.today().isoformat()
    bodies = {
        "POST /api/v1/borrowers": {"first_name": "I", "last_name": "I", "email": f"{uuid.uuid4().hex[:8]}@example.com"},
        "PATCH /api/v1/borrowers/{borrower_id}": {"first_name": "Intruder"},
        "POST /api/v1/borrowers/{borrower_id}/assign": {"subject": "intruder"},
        "POST /api/v1/products": None,
        "POST /api/v1/schedule-preview": {"product_id": ids.get("product_id"), "principal": "1000.00", "term": 6,
                                          "disbursement_date": today},
        "POST /api/v1/loans": {"borrower_id": ids.get("borrower_id"), "product_id": ids.get("product_id"),
                               "principal": "1000.00", "term": 6},
        "POST /api/v1/loans/{loan_id}/approve": {},
        "POST /api/v1/loans/{loan_id}/deny": {"reason": "intruder"},
        "POST /api/v1/loans/{loan_id}/cancel": {},
        "POST /api/v1/loans/{loan_id}/disburse": {"disbursement_date": today},
        "POST /api/v1/loans/{loan_id}/charge-off": {},
        "POST /api/v1/loans/{loan_id}/write-off": {},
        "POST /api/v1/loans/{loan_id}/assign": {"subject": "intruder"},
        "POST /api/v1/accrual-runs": {"through": today},
        "POST /api/v1/payments": {"loan_id": ids.get("loan_id"), "amount": "1.00", "currency": "USD",
                                  "method": "ach", "value_date": today},
        "POST /api/v1/payments/{payment_id}/return": {"reason": "intruder"},
    }
    if op.key == "POST /api/v1/products":
        return PRODUCT
    return bodies.get(op.key, {} if op.method in ("POST", "PUT", "PATCH") else None)


def send(api: Api, op: Operation, ids: dict[str, str]):
    body = valid_body(op, ids)
    return api.call(op.method, op.service, op.url_path(ids), json=body,
                    headers={"Idempotency-Key": uuid.uuid4().hex} if op.method != "GET" else None)


@pytest.fixture(scope="module")
def ops(stack) -> list[Operation]:
    found = operations(stack)
    assert len(found) >= 25, [o.key for o in found]
    return found


def test_every_write_operation_has_a_minimum_role(ops):
    # given every operation the OpenAPI documents declare
    writes = {o.key for o in ops if o.method != "GET" and o.path != WEBHOOK}
    # then each write is classified here (a new write endpoint fails until someone decides who may call it)
    unclassified = writes - set(MIN_ROLE) - set(READ_ONLY_WRITES)
    assert not unclassified, f"classify the minimum role of: {sorted(unclassified)}"
    assert not set(MIN_ROLE) - writes, f"stale entries: {sorted(set(MIN_ROLE) - writes)}"
    # and every operation except the HMAC webhook requires a JWT
    assert [o.key for o in ops if not o.authenticated] == [f"POST {WEBHOOK}"]


def test_another_tenants_ids_are_404_everywhere_and_change_nothing(stack, ops, owner, intruder):
    # given tenant A's objects and what A sees of them
    before = owner.snapshot()
    id_ops = [o for o in ops if o.path_params and o.authenticated]
    assert len(id_ops) >= 15
    # when tenant B (an admin of its own tenant) uses A's ids on every operation that takes one
    answers = {o.key: send(intruder, o, owner.ids) for o in id_ops}
    # then every answer is a problem+json 404
    wrong = {k: (r.status_code, r.text[:200]) for k, r in answers.items()
             if r.status_code != 404 or not r.headers["content-type"].startswith(PROBLEM)}
    assert not wrong, wrong
    # and filters by A's ids find nothing of A's in B's lists
    for service, path in (("loans", f"/loans?borrower_id={owner.ids['borrower_id']}"),
                          ("payments", f"/payments?loan_id={owner.ids['loan_id']}"),
                          ("loans", f"/loans?product_id={owner.ids['product_id']}")):
        r = intruder.call("GET", service, path)
        assert r.status_code in (200, 404, 422), r.text
        if r.status_code == 200:
            assert r.json()["count"] == 0, (path, r.json())
    # and B cannot create a loan on A's borrower nor pay A's loan
    for key in ("POST /api/v1/loans", "POST /api/v1/payments"):
        op = next(o for o in ops if o.key == key)
        r = send(intruder, op, owner.ids)
        assert r.status_code in (404, 422), (key, r.status_code, r.text)
    # and A's objects are exactly as they were
    assert owner.snapshot() == before


BAD_TOKENS = {
    "missing": None,
    "expired": lambda t: raw_token(t, exp_delta=-120),
    "wrong signature": lambda t: raw_token(t, key="not-the-secret-" + "x" * 32),
    "wrong audience": lambda t: raw_token(t, aud="someone-else"),
    "wrong issuer": lambda t: raw_token(t, iss="someone-else"),
    "alg none": lambda t: raw_token(t, key="", alg="none"),
    "garbage": lambda t: "not.a.jwt",
    "no tenant": lambda t: raw_token(""),
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_a_bad_token_is_401_on_every_authenticated_operation(stack, ops, owner, kind):
    # given a bad token of tenant A (or none)
    maker = BAD_TOKENS[kind]
    before = owner.snapshot()
    api = Api(owner.api.urls, owner.api.tenant, token="x")
    if maker is None:
        api.client.headers.pop("Authorization")
    else:
        api.client.headers["Authorization"] = f"Bearer {maker(owner.api.tenant)}"
    # when it is presented to every authenticated operation, with A's own ids
    answers = {o.key: send(api, o, owner.ids) for o in ops if o.authenticated}
    # then every answer is a problem+json 401 and nothing changed
    wrong = {k: r.status_code for k, r in answers.items()
             if r.status_code != 401 or not r.headers["content-type"].startswith(PROBLEM)}
    assert not wrong, wrong
    assert owner.snapshot() == before


def test_a_role_below_the_minimum_is_403_and_changes_nothing(stack, ops, owner):
    before = owner.snapshot()
    checked = 0
    for op in ops:
        needed = MIN_ROLE.get(op.key)
        if not needed:
            continue
        for role in ROLES[:ROLES.index(needed)]:
            # when a user of A's own tenant with a lesser role calls it on A's objects
            r = send(owner.api.as_role(role), op, owner.ids)
            # then it is refused with a problem+json 403
            assert r.status_code == 403, (op.key, role, r.status_code, r.text[:200])
            assert r.headers["content-type"].startswith(PROBLEM)
            checked += 1
    assert checked >= 20
    assert owner.snapshot() == before


def test_the_minimum_role_itself_is_not_refused(stack, ops):
    # given a fresh tenant and, for every classified operation, a user holding exactly its minimum role
    tenant = f"rel-r-{uuid.uuid4().hex[:6]}"
    for op in ops:
        needed = MIN_ROLE.get(op.key) or READ_ONLY_WRITES.get(op.key) or ("viewer" if op.authenticated else None)
        if not needed:
            continue
        # when it is called on ids that do not exist (nothing of anyone's can change)
        r = send(Api.for_stack(stack, tenant, (needed,)), op, {})
        # then the role is enough: whatever the answer (404, 422, 409, 2xx), it is not 401/403 nor 5xx
        assert r.status_code not in (401, 403) and r.status_code < 500, (op.key, needed, r.status_code, r.text[:200])


def test_object_grants_hold_across_services(stack):
    """API.md: everyone but admins acts only on the borrowers and loans they hold a grant on. The check crosses
    services: loans asks borrowers, payments asks loans — with the caller's own token, not a service token that
    sees everything."""
    from common.tokens import mint_token
    from rel_support import active_loan, new_borrower, new_product, pay, wait_for

    tenant = f"rel-g-{uuid.uuid4().hex[:6]}"
    admin = Api.for_stack(stack, tenant)

    def user(sub: str, role: str) -> Api:
        return Api(admin.urls, tenant, (role,), token=mint_token(tenant=tenant, roles=[role], sub=sub))

    olga, oscar, colin = user("olga", "loan_officer"), user("oscar", "loan_officer"), user("colin", "collector")
    product, borrower = new_product(admin), new_borrower(olga)        # olga created it: she holds its grant
    application = {"borrower_id": borrower["id"], "product_id": product["id"], "principal": "5000.00", "term": 12}
    # a loan officer cannot lend to a borrower of another officer's portfolio
    refused = oscar.call("POST", "loans", "/loans", json=application)
    assert refused.status_code == 422 and refused.json()["type"].endswith("/borrower_not_found"), refused.text
    loan = active_loan(olga, product=product, borrower=borrower)
    paid = pay(admin, loan["id"], "10.00")
    # a collector without a grant on the loan can neither record, read, list nor return its payments
    body = {"loan_id": loan["id"], "amount": "10.00", "currency": "USD", "method": "ach",
            "value_date": date.today().isoformat()}
    recorded = colin.call("POST", "payments", "/payments", json=body)
    assert recorded.status_code == 422 and recorded.json()["type"].endswith("/loan_not_found"), recorded.text
    assert colin.call("GET", "payments", f"/payments/{paid['id']}").status_code == 404
    assert colin.call("POST", "payments", f"/payments/{paid['id']}/return", json={"reason": "R01"}).status_code == 404
    assert colin.ok("GET", "payments", "/payments") == {"items": [], "count": 0}
    # once an admin assigns the loan to him, he can
    admin.ok("POST", "loans", f"/loans/{loan['id']}/assign", {"subject": "colin"})
    mine = pay(colin, loan["id"], "10.00")
    assert colin.ok("GET", "payments", f"/payments/{paid['id']}")["id"] == paid["id"]
    assert {p["id"] for p in colin.ok("GET", "payments", "/payments")["items"]} == {paid["id"], mine["id"]}
    wait_for(lambda: colin.ok("GET", "payments", f"/payments/{mine['id']}"), lambda p: p["status"] == "allocated",
             what="the collector's payment allocated")
