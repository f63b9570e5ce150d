"""Schemathesis against each service's own OpenAPI document, small budget (`make fuzz` runs the full one):
valid and invalid generated requests, with an admin token and without; the HMAC webhook signed and not."""

from __future__ import annotations

import uuid

import pytest
from fuzz import fuzz_service, fuzz_webhook, seed_objects

EXAMPLES = 3      # per operation and generation mode, each sent with and without a token


@pytest.fixture(scope="module")
def fuzz_tenant(stack):
    tenant = f"rel-fz-{uuid.uuid4().hex[:6]}"
    return tenant, seed_objects({s: stack.url(s) for s in ("borrowers", "loans", "payments")}, tenant)


@pytest.mark.parametrize("service", ["borrowers", "loans", "payments"])
def test_generated_requests_get_no_5xx_and_conform_to_the_schema(stack, fuzz_tenant, service):
    tenant, ids = fuzz_tenant
    # when schemathesis generates requests for every operation of the service's document
    result = fuzz_service(stack.url(service), service, examples=EXAMPLES, tenant=tenant, ids=ids, seed=11)
    print(result.line())
    # then none is a 5xx, every answer is declared (status, content type, schema), no token → 401
    assert result.requests >= 40
    assert result.server_errors == 0, result.failures[:10]
    assert not result.failures, "\n".join(result.failures[:10])


def test_the_processor_webhook_answers_signed_fuzz_with_200_or_400_and_unsigned_with_401(stack, fuzz_tenant):
    tenant, ids = fuzz_tenant
    result = fuzz_webhook(stack.url("payments"), examples=40, seed=11, ids=ids, tenant=tenant)
    print(result.line())
    assert result.requests == 40
    assert result.server_errors == 0, result.failures[:10]
    assert not result.failures, "\n".join(result.failures[:10])
