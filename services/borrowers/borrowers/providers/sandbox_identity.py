"""Sandbox identity provider: a small ASGI app that speaks the protocol of ``identity.py`` for real.

Run it: ``uvicorn borrowers.providers.sandbox_identity:app --port 8011`` (``make run`` does).

By default every check is verified, with a stable reference derived from the borrower id. It can be
told to behave otherwise, per borrower or globally:

- the email's local part carries a tag, or the last name is the word itself (case-insensitive):
  ``+reject`` / ``Reject`` → rejected; ``+timeout`` / ``Timeout`` → answers only after
  ``LENDSIMPLE_IDENTITY_SANDBOX_DELAY`` seconds (default 30, longer than the client timeout);
  ``+fail`` / ``Fail`` → 503;
- ``POST /control {"mode": "verify"|"reject"|"timeout"|"fail", "times": N|null}`` makes the next N
  checks (null: all, until reset) behave that way, whatever the borrower; ``DELETE /control`` resets;
  ``GET /control`` shows the mode and counts the checks received.

No Django here: the sandbox runs without a database.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

MODES = ("verify", "reject", "timeout", "fail")
REQUIRED = ("reference", "first_name", "last_name", "email")


class SandboxState:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.mode: str | None = None
        self.times: int | None = None
        self.received = 0
        self.outcomes: dict[str, int] = dict.fromkeys(MODES, 0)

    def next_forced_mode(self) -> str | None:
        if self.mode is None:
            return None
        mode = self.mode
        if self.times is not None:
            self.times -= 1
            if self.times <= 0:
                self.mode, self.times = None, None
        return mode


STATE = SandboxState()


def _delay() -> float:
    return float(os.environ.get("LENDSIMPLE_IDENTITY_SANDBOX_DELAY", "30"))


def mode_for(body: dict[str, Any]) -> str:
    """The behaviour the borrower's own data asks for (see the module docstring)."""
    local_part = str(body.get("email", "")).split("@", 1)[0].lower()
    last_name = str(body.get("last_name", "")).strip().lower()
    for mode, word in (("reject", "reject"), ("timeout", "timeout"), ("fail", "fail")):
        if f"+{word}" in local_part or last_name == word:
            return mode
    return "verify"


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"title": "sandbox identity", "status": status, "detail": detail}, status_code=status,
                        media_type="application/problem+json")


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def verifications(request: Request) -> JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        return _problem(400, "malformed JSON")
    if not isinstance(body, dict) or any(not isinstance(body.get(k), str) or not body.get(k) for k in REQUIRED):
        return _problem(422, f"required: {', '.join(REQUIRED)}")
    STATE.received += 1
    mode = STATE.next_forced_mode() or mode_for(body)
    STATE.outcomes[mode] += 1
    if mode == "timeout":
        await asyncio.sleep(_delay())
    if mode == "fail":
        return _problem(503, "sandbox identity provider is failing as instructed")
    if mode == "reject":
        return JSONResponse({"status": "rejected", "reason": "identity could not be verified (sandbox: rejected)"})
    digest = hashlib.sha256(body["reference"].encode()).hexdigest()[:24]
    return JSONResponse({"status": "verified", "reference": f"sbx_idv_{digest}"})


async def control(request: Request) -> JSONResponse:
    if request.method == "DELETE":
        STATE.reset()
    elif request.method == "POST":
        try:
            body = await request.json()
        except ValueError:
            return _problem(400, "malformed JSON")
        mode, times = (body.get("mode"), body.get("times")) if isinstance(body, dict) else (None, None)
        if mode not in MODES or not (times is None or (isinstance(times, int) and times > 0)):
            return _problem(422, f"mode must be one of {', '.join(MODES)}; times a positive integer or null")
        STATE.mode, STATE.times = mode, times
    return JSONResponse({"mode": STATE.mode, "times": STATE.times, "received": STATE.received,
                         "outcomes": STATE.outcomes})


app = Starlette(routes=[
    Route("/healthz", healthz),
    Route("/v1/verifications", verifications, methods=["POST"]),
    Route("/control", control, methods=["GET", "POST", "DELETE"]),
])
