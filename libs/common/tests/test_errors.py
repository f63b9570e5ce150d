import httpx
import pytest
from common.testing import bearer


def _client():
    from common.asgi import get_asgi_application

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=get_asgi_application()), base_url="http://testserver")


async def test_validation_error_is_422_problem_with_errors():
    async with _client() as client:
        response = await client.post("/api/v1/probe/dispatch", json={"marker": 5}, headers=bearer("acme"))
    assert response.status_code == 422
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert body["status"] == 422 and body["title"] == "Unprocessable Entity"
    assert body["errors"][0]["loc"][-1] == "marker"


async def test_malformed_json_is_400_problem_not_500():
    async with _client() as client:
        response = await client.post("/api/v1/probe/dispatch", content=b"{not json",
                                     headers={**bearer("acme"), "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_unknown_path_is_404_problem():
    async with _client() as client:
        response = await client.get("/api/v1/nope", headers=bearer("acme"))
    assert response.status_code == 404
    assert response.json()["status"] == 404


@pytest.mark.django_db
async def test_health_endpoints():
    async with _client() as client:
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        metrics = await client.get("/metrics")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    assert b"lendsimple_http_requests_total" in metrics.content


async def test_database_refusing_connections_is_503_with_retry_after_not_500():
    async with _client() as client:
        response = await client.get("/api/v1/probe/db-busy", headers=bearer("acme"))
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert response.json()["type"].endswith("/database_unavailable")


@pytest.mark.parametrize("overrides, expected", [
    ({}, {"x-content-type-options": "nosniff", "referrer-policy": "same-origin",
          "cross-origin-opener-policy": "same-origin"}),
    ({"SECURE_REFERRER_POLICY": "no-referrer", "SECURE_CROSS_ORIGIN_OPENER_POLICY": None},
     {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "cross-origin-opener-policy": None}),
])
async def test_api_responses_carry_the_security_headers_the_settings_ask_for_without_the_admin_middlewares(
        settings, overrides, expected):
    # the API skips sessions/CSRF/auth/messages (admin only) but keeps what SecurityMiddleware adds
    for name, value in overrides.items():
        setattr(settings, name, value)
    async with _client() as client:
        response = await client.get("/api/v1/probe/whoami", headers=bearer("acme"))
    assert response.status_code == 200
    assert {name: response.headers.get(name) for name in expected} == expected
    assert "set-cookie" not in response.headers and "vary" not in response.headers


async def test_api_requests_get_securitymiddlewares_https_redirect_when_the_settings_ask(settings):
    settings.SECURE_SSL_REDIRECT = True
    async with _client() as client:
        response = await client.get("/api/v1/probe/whoami", headers=bearer("acme"))
    assert response.status_code == 301
    assert response.headers["location"] == "https://testserver/api/v1/probe/whoami"


async def test_auth_and_role_checks_run_on_the_event_loop(monkeypatch):
    # no sync_to_async hop for the bearer check, a role permission, parameter parsing or response rendering
    # (each would be a thread hop: onto the request's thread, the one its ORM calls use)
    import asgiref.sync
    import ninja.operation

    hops = []
    real = asgiref.sync.sync_to_async

    def counting(fn, *args, **kwargs):
        hops.append(getattr(fn, "__qualname__", repr(fn)))
        return real(fn, *args, **kwargs)

    monkeypatch.setattr(ninja.operation, "sync_to_async", counting)
    monkeypatch.setattr(asgiref.sync, "sync_to_async", counting)
    async with _client() as client:
        response = await client.post("/api/v1/probe/officer-only", headers=bearer("acme", "loan_officer"))
    assert response.status_code == 200
    assert hops == []
