"""The HTTP identity provider against the sandbox running as a real uvicorn process."""

import time
import uuid

import httpx
import pytest
from borrowers.providers.identity import (
    HttpIdentityProvider,
    IdentityCheckRequest,
    IdentityProviderError,
    IdentityProviderUnavailable,
)

from tests.factories import asandbox


def _request(**overrides) -> IdentityCheckRequest:
    values = {"reference": str(uuid.uuid4()), "first_name": "Grace", "last_name": "Hopper",
              "email": "grace@example.com", "date_of_birth": "1980-12-09", "address": "1 Navy Yard"}
    values.update(overrides)
    return IdentityCheckRequest(**values)


async def test_verifies_by_default_with_a_stable_reference(identity):
    provider = HttpIdentityProvider(identity, timeout=2)
    request = _request()
    first, again = await provider.verify(request), await provider.verify(request)
    assert first.verified and first.reference and first.reference.startswith("sbx_idv_")
    assert again.reference == first.reference
    other = await provider.verify(_request())
    assert other.reference != first.reference


@pytest.mark.parametrize("overrides", [{"email": "grace+reject@example.com"}, {"last_name": "Reject"}])
async def test_rejects_when_told_by_the_borrower_data(identity, overrides):
    result = await HttpIdentityProvider(identity, timeout=2).verify(_request(**overrides))
    assert result.status == "rejected" and not result.verified and result.reason


async def test_a_slow_provider_is_unavailable_after_the_client_timeout(identity):
    # given a borrower the sandbox answers only after 3 s, and a client timeout of 0.5 s
    started = time.monotonic()
    with pytest.raises(IdentityProviderUnavailable, match="timed out"):
        await HttpIdentityProvider(identity, timeout=0.5).verify(_request(email="g+timeout@example.com"))
    # then the call gave up at the timeout, not when the sandbox answered
    assert time.monotonic() - started < 2.5


async def test_a_failing_provider_is_unavailable(identity):
    with pytest.raises(IdentityProviderUnavailable, match="503"):
        await HttpIdentityProvider(identity, timeout=2).verify(_request(last_name="Fail"))


async def test_a_provider_that_is_not_listening_is_unavailable():
    with pytest.raises(IdentityProviderUnavailable, match="unreachable"):
        await HttpIdentityProvider("http://127.0.0.1:9", timeout=1).verify(_request())


async def test_control_endpoint_forces_the_next_checks_then_recovers(identity):
    # given the sandbox told to fail the next two checks
    await asandbox(identity, "POST", {"mode": "fail", "times": 2})
    provider = HttpIdentityProvider(identity, timeout=2)
    # then two calls fail, the third verifies, and the sandbox counted three checks
    for _ in range(2):
        with pytest.raises(IdentityProviderUnavailable):
            await provider.verify(_request())
    assert (await provider.verify(_request())).verified
    state = (await asandbox(identity))
    assert state["received"] == 3 and state["outcomes"]["fail"] == 2 and state["mode"] is None


def test_malformed_answers_are_transient_and_bad_requests_are_errors():
    # fakes at the edge: a provider answering garbage, and one refusing the request
    def garbage(request):
        return httpx.Response(200, json={"status": "maybe"})

    def refused(request):
        return httpx.Response(400, json={"detail": "bad"})

    import asyncio

    with pytest.raises(IdentityProviderUnavailable, match="unexpected"):
        asyncio.run(HttpIdentityProvider("http://x", transport=httpx.MockTransport(garbage)).verify(_request()))
    with pytest.raises(IdentityProviderError) as refused_exc:
        asyncio.run(HttpIdentityProvider("http://x", transport=httpx.MockTransport(refused)).verify(_request()))
    assert not isinstance(refused_exc.value, IdentityProviderUnavailable)


def test_sandbox_control_validates_its_input(identity_sandbox):
    assert httpx.post(f"{identity_sandbox}/control", json={"mode": "explode"}).status_code == 422
    assert httpx.post(f"{identity_sandbox}/v1/verifications", json={"first_name": "x"}).status_code == 422
    assert httpx.get(f"{identity_sandbox}/healthz").json() == {"status": "ok"}
