import httpx
import pytest
from common.testing import bearer


def _client():
    from django.core.asgi import get_asgi_application

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
