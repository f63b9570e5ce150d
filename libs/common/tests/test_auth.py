import time

import httpx
import jwt
import pytest
from common.auth import DEV_SECRET, InvalidToken, Principal, decode_token, main, mint_token
from common.testing import bearer


def _client():
    from common.asgi import get_asgi_application

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=get_asgi_application()), base_url="http://testserver")


async def test_no_token_is_401_problem():
    async with _client() as client:
        response = await client.get("/api/v1/probe/whoami")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401


@pytest.mark.parametrize("claims", [
    {"aud": "someone-else"},
    {"iss": "not-lendsimple"},
    {"exp": int(time.time()) - 10},
])
async def test_bad_tokens_are_401(claims):
    now = int(time.time())
    base = {"sub": "u", "tenant": "acme", "roles": ["admin"], "iss": "lendsimple", "aud": "lendsimple",
            "exp": now + 60}
    token = jwt.encode({**base, **claims}, DEV_SECRET, algorithm="HS256")
    async with _client() as client:
        response = await client.get("/api/v1/probe/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_wrongly_signed_token_is_401():
    token = mint_token(tenant="acme", roles=["admin"], secret="another-secret")
    async with _client() as client:
        response = await client.get("/api/v1/probe/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_valid_token_sets_principal():
    async with _client() as client:
        response = await client.get("/api/v1/probe/whoami", headers=bearer("acme", "viewer"))
    assert response.status_code == 200
    assert response.json() == {"tenant": "acme", "roles": ["viewer"]}


@pytest.mark.parametrize(("roles", "status"), [(["viewer"], 403), (["collector"], 403),
                                               (["loan_officer"], 200), (["admin"], 200)])
async def test_role_hierarchy(roles, status):
    async with _client() as client:
        response = await client.post("/api/v1/probe/officer-only", headers=bearer("acme", *roles))
    assert response.status_code == status
    if status == 403:
        assert response.headers["content-type"] == "application/problem+json"


def test_rs256_when_public_key_is_configured(monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    monkeypatch.setenv("LENDSIMPLE_JWT_PUBLIC_KEY", public_pem)
    token = mint_token(tenant="acme", roles=["admin"], private_key=private_pem)
    assert decode_token(token) == Principal(subject="dev", tenant="acme", roles=frozenset({"admin"}))
    # an HS256 token is no longer accepted once RS256 is configured
    with pytest.raises(InvalidToken):
        decode_token(mint_token(tenant="acme", roles=["admin"]))


def test_env_secret_is_honoured(monkeypatch):
    monkeypatch.setenv("LENDSIMPLE_JWT_SECRET", "s3cret")
    token = mint_token(tenant="acme", roles=["admin"])
    assert jwt.decode(token, "s3cret", algorithms=["HS256"], audience="lendsimple")["tenant"] == "acme"
    monkeypatch.setenv("LENDSIMPLE_JWT_SECRET", "other")
    with pytest.raises(InvalidToken):
        decode_token(token)


def test_mint_cli(capsys):
    assert main(["mint", "--tenant", "acme", "--roles", "loan_officer,viewer", "--sub", "ada"]) == 0
    principal = decode_token(capsys.readouterr().out.strip())
    assert principal.tenant == "acme" and principal.subject == "ada"
    assert principal.has_role("collector") and not principal.has_role("admin")


def test_a_call_on_a_users_behalf_presents_their_token_unless_they_see_everything():
    from common.service_http import _bearer

    officer = decode_token(mint_token(tenant="acme", roles=["loan_officer"], sub="olga"))
    admin = decode_token(mint_token(tenant="acme", roles=["admin"], sub="ada"))
    # a loan officer's own token goes along (the other service applies her grants); an admin's call is the
    # service's own (she sees every object of the tenant); without a caller it is the service's
    assert _bearer(tenant="acme", caller="loans", on_behalf_of=officer) == officer.token
    assert decode_token(_bearer(tenant="acme", caller="loans", on_behalf_of=admin)).is_service
    assert decode_token(_bearer(tenant="acme", caller="loans", on_behalf_of=None)).is_service
    # never a service token in place of a user's missing one, nor another tenant's token
    with pytest.raises(ValueError):
        _bearer(tenant="acme", caller="loans", on_behalf_of=Principal("olga", "acme", frozenset({"collector"})))
    with pytest.raises(ValueError):
        _bearer(tenant="globex", caller="loans", on_behalf_of=officer)
    assert officer.token not in repr(officer)        # never in a log line


@pytest.mark.parametrize("value", [None, DEV_SECRET, "CHANGE-ME-jwt-secret"])
def test_production_refuses_a_missing_development_or_placeholder_secret(monkeypatch, value):
    from common.conf import secret
    from django.core.exceptions import ImproperlyConfigured

    monkeypatch.setenv("LENDSIMPLE_ENV", "production")
    if value is None:
        monkeypatch.delenv("LENDSIMPLE_JWT_SECRET", raising=False)
    else:
        monkeypatch.setenv("LENDSIMPLE_JWT_SECRET", value)
    with pytest.raises(ImproperlyConfigured, match="LENDSIMPLE_JWT_SECRET"):
        secret("LENDSIMPLE_JWT_SECRET", DEV_SECRET)
    # a real one is taken; and in development the default stands in
    monkeypatch.setenv("LENDSIMPLE_JWT_SECRET", "s3cr3t-from-the-vault")
    assert secret("LENDSIMPLE_JWT_SECRET", DEV_SECRET) == "s3cr3t-from-the-vault"
    monkeypatch.setenv("LENDSIMPLE_ENV", "development")
    monkeypatch.delenv("LENDSIMPLE_JWT_SECRET")
    assert secret("LENDSIMPLE_JWT_SECRET", DEV_SECRET) == DEV_SECRET


def test_a_service_does_not_start_in_production_on_the_development_secrets():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("LENDSIMPLE_JWT_SECRET", "DJANGO_SECRET_KEY")}
    code = "import django; django.setup()"
    settings = {"DJANGO_SETTINGS_MODULE": "testproject.settings"}
    refused = subprocess.run([sys.executable, "-c", code], env={**env, **settings, "LENDSIMPLE_ENV": "production"},
                             capture_output=True, text=True, cwd=os.path.dirname(__file__))
    started = subprocess.run([sys.executable, "-c", code], env={**env, **settings, "LENDSIMPLE_ENV": "development"},
                             capture_output=True, text=True, cwd=os.path.dirname(__file__))
    assert refused.returncode != 0 and "ImproperlyConfigured" in refused.stderr, refused.stderr[-500:]
    assert started.returncode == 0, started.stderr[-500:]
