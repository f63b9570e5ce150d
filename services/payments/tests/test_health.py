import pytest


@pytest.mark.django_db
async def test_health_ready_metrics_and_docs(asgi_client):
    # given the service's ASGI app, when probed, then it is alive, ready (real DB + broker) and documented
    async with asgi_client as client:
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.get("/api/v1/docs")).status_code == 200
        assert (await client.get("/api/v1/openapi.json")).json()["info"]["title"].startswith("LendSimple")
