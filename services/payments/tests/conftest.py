"""Fixtures of the payments suite: real HTTP everywhere the service talks to something.

- ``processor``: the sandbox processor, started as a real ``uvicorn`` subprocess on a free port.
- ``payments_http``: this service's ASGI app served by uvicorn (in a thread, on the test database) so
  that the processor's signed callbacks arrive over real HTTP.
- ``loans_api``: a stand-in for the loans service's ``GET /api/v1/loans/{id}`` and ``GET /api/v1/loans``, served by
  uvicorn; it verifies the token and answers per tenant and, for a user who is not an admin, per grant (as the
  loans service does), so tenant and grant checks are real.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from common.testing import maybe_start_containers

pytest_plugins = ["common.pytest_plugin"]

maybe_start_containers()

SERVICE_DIR = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, *, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up within {timeout}s")


class ThreadedServer:
    """uvicorn serving an ASGI app from a background thread of the test process."""

    def __init__(self, app, port: int | None = None):
        self.port = port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                   lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn thread did not start")
            time.sleep(0.02)
        return self

    def drain(self, timeout: float = 5.0) -> None:
        """Wait until the requests being served are done."""
        deadline = time.monotonic() + timeout
        while self.server.server_state.tasks and time.monotonic() < deadline:
            time.sleep(0.02)

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
async def client(asgi_client):
    """An open httpx client on this service's ASGI app (in-process)."""
    async with asgi_client as c:
        yield c


# --- the loans-API stand-in --------------------------------------------------------------------

@dataclass
class LoansStandIn:
    """Loans the stand-in knows, per tenant; only what payments reads from ``GET /loans/{id}``."""

    url: str = ""
    loans: dict[tuple[str, str], dict] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    grants: dict[tuple[str, str], set[str]] = field(default_factory=dict)     # (tenant, loan) → subjects

    def add(self, tenant: str, *, status: str = "active", currency: str = "USD",
            disbursement_date: str | None = "2025-01-01", granted: tuple[str, ...] = ("tester",)) -> uuid.UUID:
        """A loan of ``tenant``; ``granted``: the subjects holding a grant on it (the tests' tokens are "tester")."""
        loan_id = uuid.uuid4()
        self.loans[(tenant, str(loan_id))] = {"id": str(loan_id), "status": status, "currency": currency,
                                              "principal": "1000.00", "disbursement_date": disbursement_date}
        self.grants[(tenant, str(loan_id))] = set(granted)
        return loan_id

    def sees(self, principal, loan_key: tuple[str, str]) -> bool:
        """As the loans service answers: services and admins see the tenant's loans, others their grants."""
        return principal.sees_all or principal.subject in self.grants.get(loan_key, set())


def _loans_app(state: LoansStandIn):
    from common.auth import InvalidToken, decode_token
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    def caller(request):
        try:
            return decode_token(request.headers.get("authorization", "").removeprefix("Bearer "))
        except InvalidToken:
            return None

    async def get_loan(request):
        if (principal := caller(request)) is None:
            return JSONResponse({"status": 401}, status_code=401)
        loan_id = request.path_params["loan_id"]
        state.calls.append((principal.tenant, loan_id))
        loan = state.loans.get((principal.tenant, loan_id))
        if loan is None or not state.sees(principal, (principal.tenant, loan_id)):
            return JSONResponse({"status": 404, "detail": "not found"}, status_code=404)
        return JSONResponse(loan)

    async def list_loans(request):
        if (principal := caller(request)) is None:
            return JSONResponse({"status": 401}, status_code=401)
        state.calls.append((principal.tenant, "list"))
        items = [loan for key, loan in state.loans.items() if key[0] == principal.tenant and state.sees(principal, key)]
        limit, offset = int(request.query_params.get("limit", 50)), int(request.query_params.get("offset", 0))
        return JSONResponse({"items": items[offset:offset + limit], "count": len(items)})

    return Starlette(routes=[Route("/api/v1/loans/{loan_id}", get_loan), Route("/api/v1/loans", list_loans)])


@pytest.fixture(scope="session")
def _loans_server():
    state = LoansStandIn()
    with ThreadedServer(_loans_app(state)) as server:
        state.url = server.url
        yield state


@pytest.fixture
def loans_api(_loans_server, settings):
    _loans_server.loans.clear()
    _loans_server.calls.clear()
    _loans_server.grants.clear()
    settings.LENDSIMPLE_LOANS_URL = _loans_server.url
    return _loans_server


# --- the sandbox processor (subprocess) --------------------------------------------------------

@dataclass
class Processor:
    url: str

    def control(self, path: str, body: dict | None = None) -> dict:
        response = httpx.post(f"{self.url}{path}", json=body or {}, timeout=5)
        response.raise_for_status()
        return response.json()

    def charges(self, payment_id) -> list[dict]:
        return httpx.get(f"{self.url}/charges", params={"payment_id": str(payment_id)}, timeout=5).json()["items"]


@pytest.fixture(scope="session")
def _processor_process():
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "payments.providers.sandbox_processor:app",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            cwd=SERVICE_DIR, env=env)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        yield Processor(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def processor(_processor_process, settings):
    _processor_process.control("/control/reset")
    settings.LENDSIMPLE_PROCESSOR_URL = _processor_process.url
    yield _processor_process
    _processor_process.control("/control/reset")


# --- this service over real HTTP ---------------------------------------------------------------

@pytest.fixture(scope="session")
def _payments_server(django_db_setup):
    from common.asgi import get_asgi_application

    with ThreadedServer(get_asgi_application()) as server:
        yield server


@pytest.fixture
def payments_http(_payments_server, _processor_process, settings):
    """The service reachable over HTTP; the processor's callbacks are addressed to it.

    Afterwards the sandbox forgets its pending callbacks and in-flight requests are let finish, so
    no callback of this test lands in the next one (or in the database flush between them)."""
    settings.LENDSIMPLE_PAYMENTS_URL = _payments_server.url
    yield _payments_server.url
    _processor_process.control("/control/reset")
    _payments_server.drain()


@pytest.fixture
def unreachable_url():
    return f"http://127.0.0.1:{free_port()}"
