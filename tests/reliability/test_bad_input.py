"""Bad input at the edges: HTTP bodies that are malformed, huge, mistyped or out of range → 4xx
problem+json and nothing stored; poison messages on every consumer queue → dead-lettered, the consumer
goes on."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from datetime import date

import pika
import pytest
from chaos import vhost_of
from rel_support import PROBLEM, PRODUCT, Api, active_loan, new_borrower, new_loan, pay, wait_for

MAX_BODY = 256 * 1024
TODAY = date.today().isoformat()


@pytest.fixture(scope="module")
def api(stack) -> Api:
    return Api.for_stack(stack, f"rel-in-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def loan(api) -> dict:
    return active_loan(api)


def counts(api: Api, loan_id: str) -> dict[str, int]:
    """How many records the tenant has of each kind (to prove a refused request stored nothing)."""
    return {"borrowers": api.ok("GET", "borrowers", "/borrowers")["count"],
            "products": api.ok("GET", "loans", "/products")["count"],
            "loans": api.ok("GET", "loans", "/loans")["count"],
            "payments": api.ok("GET", "payments", f"/payments?loan_id={loan_id}")["count"]}


def assert_problem(r, statuses=range(400, 500)):
    assert r.status_code in statuses, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body = r.json()
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == r.status_code
    assert "Traceback" not in r.text


def payment(loan: dict, **overrides) -> dict:
    return {"loan_id": loan["id"], "amount": "10.00", "currency": "USD", "method": "ach", "value_date": TODAY} \
        | overrides


def bad_bodies(loan: dict, borrower_id: str, product_id: str) -> list[tuple[str, str, str, dict]]:
    """(service, path, label, body) of schema-shaped requests with one bad value each."""
    new_loan_body = {"borrower_id": borrower_id, "product_id": product_id, "principal": "1000.00", "term": 6}
    return [
        ("payments", "/payments", "amount as a float", payment(loan, amount=10.5)),
        ("payments", "/payments", "amount as an integer", payment(loan, amount=10)),
        ("payments", "/payments", "amount with 3 decimals", payment(loan, amount="10.001")),
        ("payments", "/payments", "negative amount", payment(loan, amount="-1.00")),
        ("payments", "/payments", "zero amount", payment(loan, amount="0.00")),
        ("payments", "/payments", "amount 1e3", payment(loan, amount="1e3")),
        ("payments", "/payments", "amount NaN", payment(loan, amount="NaN")),
        ("payments", "/payments", "huge amount", payment(loan, amount="9" * 40 + ".00")),
        ("payments", "/payments", "unknown method", payment(loan, method="bitcoin")),
        ("payments", "/payments", "unknown currency", payment(loan, currency="XXX")),
        ("payments", "/payments", "date out of range", payment(loan, value_date="10000-01-01")),
        ("payments", "/payments", "impossible date", payment(loan, value_date="2024-02-30")),
        ("payments", "/payments", "year 0001", payment(loan, value_date="0001-01-01")),
        ("payments", "/payments", "date far in the future", payment(loan, value_date="9999-12-31")),
        ("payments", "/payments", "loan id not a uuid", payment(loan, loan_id="1 OR 1=1")),
        ("loans", "/loans", "principal as a float", new_loan_body | {"principal": 1000.0}),
        ("loans", "/loans", "term as a string", new_loan_body | {"term": "six"}),
        ("loans", "/loans", "term out of range", new_loan_body | {"term": 10 ** 9}),
        ("loans", "/products", "rate as a float", PRODUCT | {"annual_rate": 0.12}),
        ("loans", "/products", "unknown frequency", PRODUCT | {"frequency": "daily"}),
        ("loans", "/products", "unknown day count", PRODUCT | {"day_count": "31/365"}),
        ("loans", "/products", "unknown interest method", PRODUCT | {"interest_method": "magic"}),
        ("loans", "/products", "unknown rounding mode", PRODUCT | {"rounding": {"mode": "up-ish", "places": 2}}),
        ("loans", "/products", "unknown allocation bucket", PRODUCT | {"allocation_order": ["fees", "cake"]}),
        ("loans", "/products", "negative rate", PRODUCT | {"annual_rate": "-0.12"}),
        ("loans", "/products", "term_min above term_max", PRODUCT | {"term_min": 12, "term_max": 6}),
        ("borrowers", "/borrowers", "not an email", {"first_name": "A", "last_name": "B", "email": "nope"}),
        ("borrowers", "/borrowers", "birth date out of range",
         {"first_name": "A", "last_name": "B", "email": "a@example.com", "date_of_birth": "99999-01-01"}),
        ("borrowers", "/borrowers", "a number for a name", {"first_name": 1, "last_name": "B", "email": "a@example.com"}),
    ]


def test_schema_shaped_bad_values_are_4xx_problems_and_store_nothing(stack, api, loan):
    borrower = new_borrower(api)
    product_id = loan["product_id"]
    before = counts(api, loan["id"])
    for service, path, label, body in bad_bodies(loan, borrower["id"], product_id):
        r = api.call("POST", service, path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
        try:
            assert_problem(r, (400, 404, 409, 422))
        except AssertionError as exc:
            raise AssertionError(f"{label}: {exc}") from None
    assert counts(api, loan["id"]) == before


def test_an_out_of_range_disbursement_date_is_refused_and_the_loan_stays_approved(api):
    # given an approved loan
    loan = new_loan(api)
    api.ok("POST", "loans", f"/loans/{loan['id']}/approve", {})
    # when it is disbursed at the edges of the calendar
    for when in ("9999-12-31", "0001-01-01", "10000-01-01", "2023-02-29"):
        r = api.call("POST", "loans", f"/loans/{loan['id']}/disburse", json={"disbursement_date": when})
        # then each is a 4xx problem (a schedule running past year 9999 is not a 500)
        assert_problem(r)
    assert api.ok("GET", "loans", f"/loans/{loan['id']}")["status"] == "approved"


@pytest.mark.parametrize("service,path", [("borrowers", "/borrowers"), ("loans", "/products"), ("loans", "/loans"),
                                          ("payments", "/payments")])
def test_malformed_huge_and_mistyped_bodies_are_4xx_problems(stack, api, loan, service, path):
    before = counts(api, loan["id"])
    valid = {"/borrowers": {"first_name": "A", "last_name": "B", "email": f"{uuid.uuid4().hex[:8]}@example.com"},
             "/products": PRODUCT, "/loans": {"borrower_id": str(uuid.uuid4()), "product_id": loan["product_id"],
                                              "principal": "1000.00", "term": 6},
             "/payments": payment(loan)}[path]
    cases = {
        "malformed json": (b'{"first_name": "A", ', "application/json"),
        "not an object": (b"[1, 2, 3]", "application/json"),
        "a bare string": (b'"hello"', "application/json"),
        "empty body": (b"", "application/json"),
        "invalid utf-8": (b'{"first_name": "\xff\xfe"}', "application/json"),
        "deeply nested": (b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json"),
        "huge body": (json.dumps(valid | {"padding": "x" * (MAX_BODY + 1024)}).encode(), "application/json"),
        "huge body, wrong length header": (b"{" + b" " * (MAX_BODY * 2) + b"}", "application/json"),
        "form encoded": (b"first_name=A&last_name=B", "application/x-www-form-urlencoded"),
        "xml": (b"<borrower><first_name>A</first_name></borrower>", "application/xml"),
        "multipart junk": (b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--", "multipart/form-data"),
    }
    for label, (content, ctype) in cases.items():
        r = api.call("POST", service, path, content=content,
                     headers={"Content-Type": ctype, "Idempotency-Key": uuid.uuid4().hex})
        try:
            assert_problem(r, (400, 413, 415, 422))
        except AssertionError as exc:
            raise AssertionError(f"{service}{path} {label}: {exc}") from None
    assert counts(api, loan["id"]) == before


def test_a_valid_json_body_with_a_wrong_content_type_stores_nothing(stack, api, loan):
    before = counts(api, loan["id"])
    body = json.dumps(payment(loan)).encode()
    for ctype in ("text/plain", "application/xml", "application/x-www-form-urlencoded"):
        r = api.call("POST", "payments", "/payments", content=body,
                     headers={"Content-Type": ctype, "Idempotency-Key": uuid.uuid4().hex})
        assert_problem(r, (400, 415, 422))
    assert counts(api, loan["id"]) == before


# --- poison messages ----------------------------------------------------------------------------
CONSUMED = {  # consumer → an event type its queue is bound to
    "borrowers": "borrowers.borrower.created.v1",
    "loans": "ledger.loan.balance_changed.v1",
    "payments": "ledger.payment.allocated.v1",
    "ledger": "loans.loan.disbursed.v1",
}


def depth(vhost: str, queue: str) -> int:
    out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "messages", "--no-table-headers"],
                         capture_output=True, text=True, timeout=60).stdout
    return next((int(n) for name, n in (line.split() for line in out.splitlines() if line.strip()) if name == queue), 0)


def test_a_poison_message_on_every_consumer_queue_is_dead_lettered_and_the_consumers_go_on(stack, api):
    vhost = vhost_of(stack)
    dlqs = {svc: f"{svc}.events.dlq" for svc in CONSUMED}
    before = {svc: depth(vhost, q) for svc, q in dlqs.items()}
    conn = pika.BlockingConnection(pika.URLParameters(f"amqp://guest:guest@127.0.0.1:5672/{vhost}"))
    try:
        channel = conn.channel()
        for event_type in CONSUMED.values():
            # not JSON at all
            channel.basic_publish("lendsimple.events", event_type, b"\x00\xffnot json{{{",
                                  pika.BasicProperties(message_id=uuid.uuid4().hex, delivery_mode=2))
            # a well-formed envelope whose payload is not the event's
            envelope = {"event_id": str(uuid.uuid4()), "event_type": event_type, "occurred_at": "2024-01-01T00:00:00Z",
                        "tenant_id": api.tenant, "payload": {"loan_id": "not-a-uuid", "amount": [1, 2]}}
            channel.basic_publish("lendsimple.events", event_type, json.dumps(envelope).encode(),
                                  pika.BasicProperties(message_id=envelope["event_id"], delivery_mode=2,
                                                       content_type="application/json"))
    finally:
        conn.close()
    # then both land in each consumer's dead-letter queue
    wait_for(lambda: {svc: depth(vhost, q) - before[svc] for svc, q in dlqs.items()},
             lambda d: all(n >= 2 for n in d.values()), timeout=60, what="poison messages dead-lettered")
    # and every consumer still handles valid events: KYC (borrowers), account opened (ledger → loans),
    # allocation (ledger → payments) and the balance projection (ledger → loans)
    borrower = new_borrower(api)
    wait_for(lambda: api.ok("GET", "borrowers", f"/borrowers/{borrower['id']}"),
             lambda b: b["kyc_status"] != "pending", timeout=60, what="KYC after the poison")
    loan = active_loan(api, borrower=borrower)
    paid = pay(api, loan["id"], "100.00")
    wait_for(lambda: api.ok("GET", "payments", f"/payments/{paid['id']}"), lambda p: p["status"] == "allocated",
             timeout=90, what="allocation after the poison")
    wait_for(lambda: api.ok("GET", "loans", f"/loans/{loan['id']}"),
             lambda x: float(x["balances"]["principal"]) < 10000, timeout=60, what="projection after the poison")
    # cleanup: the poison is explained (it is ours), remove it so later checks start from empty DLQs
    time.sleep(0.5)
    for q in dlqs.values():
        subprocess.run(["rabbitmqctl", "-q", "purge_queue", "-p", vhost, q], capture_output=True, timeout=60)
