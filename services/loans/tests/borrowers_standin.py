"""A stand-in for the borrowers service, served over real HTTP for the loans tests.

It implements the one call loans makes (``GET /api/v1/borrowers/{id}``, docs/integration.md): the
bearer token is verified with ``common.auth``, and the borrower answers 200 only if it was registered
for the token's tenant (404 otherwise). ``failing`` makes it answer 503, to test the retry/503 path.
It stands in until the real borrowers service (services/borrowers) can be started by the tests.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import defaultdict

import uvicorn
from common.auth import InvalidToken, decode_token
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class BorrowersStandIn:
    def __init__(self) -> None:
        self.known: dict[str, set[str]] = defaultdict(set)
        self.failing = False
        self.calls = 0
        self.app = Starlette(routes=[Route("/api/v1/borrowers/{borrower_id}", self.get_borrower)])
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def add(self, tenant: str, borrower_id) -> None:
        self.known[tenant].add(str(borrower_id))

    async def get_borrower(self, request: Request) -> JSONResponse:
        self.calls += 1
        if self.failing:
            return JSONResponse({"title": "Service Unavailable", "status": 503}, status_code=503)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            principal = decode_token(token) if scheme.lower() == "bearer" else None
        except InvalidToken:
            principal = None
        if principal is None:
            return JSONResponse({"title": "Unauthorized", "status": 401}, status_code=401)
        borrower_id = request.path_params["borrower_id"]
        if borrower_id not in self.known[principal.tenant]:
            return JSONResponse({"title": "Not Found", "status": 404}, status_code=404)
        return JSONResponse({"id": borrower_id, "first_name": "Ada", "last_name": "Lovelace",
                             "email": "ada@example.com", "kyc_status": "verified"})

    def start(self) -> BorrowersStandIn:
        port = free_port()
        self._server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning",
                                                     lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, name="borrowers-standin", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("borrowers stand-in did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server:
            self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
