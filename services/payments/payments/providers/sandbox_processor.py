"""A sandbox payment processor that speaks real HTTP, for development and tests.

    uvicorn payments.providers.sandbox_processor:app --port 8012

It accepts charges and, by default, settles each within a second by calling back the charge's
``callback_url`` with a signed ``charge.settled`` (``payments.providers.signing``; secret
``LENDSIMPLE_PROCESSOR_WEBHOOK_SECRET``, development default in ``signing``). Callbacks that fail are
retried with backoff. It can be told what to do:

    POST /control/behaviour   {"outcome": "settle"|"fail"|"hold", "delay_seconds": 0.2, "reason": "...",
                               "accepting": true, "answer_delay_seconds": 0}
                              default for new charges; "hold" never calls back; "accepting": false
                              answers 503 to every charge; "answer_delay_seconds" makes the processor
                              slow to answer a charge (it is registered at once, answered late)
    POST /control/payments/{payment_id}  {"outcome", "delay_seconds", "reason"}   for one payment
    POST /control/reset
    POST /charges/{id}/settle | /fail {"reason"} | /return {"reason"}   act on a charge now
    GET  /charges/{id}, GET /charges?payment_id=
    POST /charges/{id}/redeliver   send the last callback again (same event id: a replay)

State is in memory: the sandbox is a stand-in for an outside system, not a store of record.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import asdict, dataclass, field

import httpx
from common.service_http import shared_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from payments.providers.signing import sign, webhook_secret

OUTCOMES = ("settle", "fail", "hold")
DELIVERY_ATTEMPTS = 8


@dataclass
class Behaviour:
    outcome: str = "settle"
    delay_seconds: float = 0.3
    reason: str = "insufficient funds"


@dataclass
class ChargeRecord:
    id: str
    payment_id: str
    tenant_id: str
    amount: str
    currency: str
    method: str
    callback_url: str
    status: str = "pending"
    created_at: float = field(default_factory=time.time)
    callbacks: list[dict] = field(default_factory=list)     # [{"event": {...}, "delivered": bool, "attempts"}]


class Sandbox:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        for task in getattr(self, "tasks", ()):
            task.cancel()             # pending decisions and callback deliveries of the old state
        self.behaviour = Behaviour()
        self.accepting = True
        self.answer_delay = 0.0
        self.per_payment: dict[str, Behaviour] = {}
        self.charges: dict[str, ChargeRecord] = {}
        self.by_payment: dict[str, str] = {}
        self.tasks: set[asyncio.Task] = set()

    def spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


sandbox = Sandbox()


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"type": "about:blank", "title": "error", "status": status, "detail": detail},
                        status_code=status, media_type="application/problem+json")


def _view(charge: ChargeRecord) -> dict:
    data = asdict(charge)
    data["callbacks"] = [{"event_id": c["event"]["event_id"], "type": c["event"]["type"], "delivered": c["delivered"],
                          "attempts": c["attempts"]} for c in charge.callbacks]
    return data


async def _deliver(charge: ChargeRecord, callback: dict) -> None:
    body = json.dumps(callback["event"]).encode()
    client = shared_client()
    for attempt in range(DELIVERY_ATTEMPTS):
        callback["attempts"] += 1
        headers = {"Content-Type": "application/json", **sign(body, secret=webhook_secret())}
        try:
            response = await client.post(charge.callback_url, content=body, headers=headers, timeout=5.0)
            if response.status_code < 300:
                callback["delivered"] = True
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(min(0.2 * 2 ** attempt, 10.0))


def _emit(charge: ChargeRecord, status: str, reason: str = "") -> dict:
    charge.status = status
    event = {"event_id": uuid.uuid4().hex, "type": f"charge.{status}", "charge_id": charge.id,
             "payment_id": charge.payment_id, "tenant_id": charge.tenant_id, "amount": charge.amount,
             "currency": charge.currency, "reason": reason, "occurred_at": time.time()}
    callback = {"event": event, "delivered": False, "attempts": 0}
    charge.callbacks.append(callback)
    sandbox.spawn(_deliver(charge, callback))
    return callback


async def _decide_later(charge: ChargeRecord, behaviour: Behaviour) -> None:
    await asyncio.sleep(max(behaviour.delay_seconds, 0.0))
    if charge.status != "pending":
        return                        # settled or failed on command meanwhile
    if behaviour.outcome == "settle":
        _emit(charge, "settled")
    elif behaviour.outcome == "fail":
        _emit(charge, "failed", behaviour.reason)


def _behaviour_from(data: dict, base: Behaviour) -> Behaviour:
    outcome = data.get("outcome", base.outcome)
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
    return Behaviour(outcome=outcome, delay_seconds=float(data.get("delay_seconds", base.delay_seconds)),
                     reason=str(data.get("reason", base.reason)))


async def create_charge(request: Request) -> JSONResponse:
    if not sandbox.accepting:
        return _problem(503, "the sandbox processor is refusing charges (told to by /control/behaviour)")
    try:
        data = await request.json()
        payment_id = str(data["payment_id"])
        fields = {k: str(data[k]) for k in ("tenant_id", "amount", "currency", "method", "callback_url")}
    except (ValueError, KeyError, TypeError) as exc:
        return _problem(400, f"bad charge request: {exc}")
    existing = sandbox.by_payment.get(payment_id)
    if existing:                      # idempotent on the payment: asking again never charges twice
        return JSONResponse(_view(sandbox.charges[existing]), status_code=200)
    charge = ChargeRecord(id=f"ch_{uuid.uuid4().hex[:24]}", payment_id=payment_id, **fields)
    sandbox.charges[charge.id] = charge
    sandbox.by_payment[payment_id] = charge.id
    sandbox.spawn(_decide_later(charge, sandbox.per_payment.get(payment_id, sandbox.behaviour)))
    if sandbox.answer_delay:
        await asyncio.sleep(sandbox.answer_delay)
    return JSONResponse(_view(charge), status_code=201)


def _charge_or_404(request: Request) -> ChargeRecord | JSONResponse:
    charge = sandbox.charges.get(request.path_params["charge_id"])
    return charge if charge is not None else _problem(404, "no such charge")


async def get_charge(request: Request) -> JSONResponse:
    charge = _charge_or_404(request)
    return charge if isinstance(charge, JSONResponse) else JSONResponse(_view(charge))


async def list_charges(request: Request) -> JSONResponse:
    payment_id = request.query_params.get("payment_id")
    items = [_view(c) for c in sandbox.charges.values() if payment_id in (None, c.payment_id)]
    return JSONResponse({"items": items, "count": len(items)})


async def _reason(request: Request, default: str) -> str:
    try:
        data = await request.json()
    except ValueError:
        data = {}
    return str((data or {}).get("reason") or default)


async def act_on_charge(request: Request) -> JSONResponse:
    charge = _charge_or_404(request)
    if isinstance(charge, JSONResponse):
        return charge
    action = request.path_params["action"]
    allowed = {"settle": ({"pending"}, "settled"), "fail": ({"pending"}, "failed"), "return": ({"settled"}, "returned")}
    if action == "redeliver":
        if not charge.callbacks:
            return _problem(409, "nothing to redeliver")
        last = charge.callbacks[-1]
        sandbox.spawn(_deliver(charge, last))
        return JSONResponse(_view(charge))
    if action not in allowed:
        return _problem(404, "unknown action")
    sources, target = allowed[action]
    if charge.status not in sources:
        return _problem(409, f"a {charge.status} charge cannot be {target}")
    _emit(charge, target, await _reason(request, "insufficient funds" if action != "settle" else ""))
    return JSONResponse(_view(charge))


async def set_behaviour(request: Request) -> JSONResponse:
    try:
        data = await request.json()
        sandbox.behaviour = _behaviour_from(data, sandbox.behaviour)
        if "accepting" in data:
            sandbox.accepting = bool(data["accepting"])
        if "answer_delay_seconds" in data:
            sandbox.answer_delay = max(float(data["answer_delay_seconds"]), 0.0)
    except (ValueError, TypeError) as exc:
        return _problem(400, str(exc))
    return JSONResponse({**asdict(sandbox.behaviour), "accepting": sandbox.accepting,
                         "answer_delay_seconds": sandbox.answer_delay})


async def set_payment_behaviour(request: Request) -> JSONResponse:
    try:
        behaviour = _behaviour_from(await request.json(), sandbox.behaviour)
    except (ValueError, TypeError) as exc:
        return _problem(400, str(exc))
    sandbox.per_payment[request.path_params["payment_id"]] = behaviour
    return JSONResponse(asdict(behaviour))


async def reset(request: Request) -> JSONResponse:
    sandbox.reset()
    return JSONResponse({"reset": True})


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[
    Route("/healthz", healthz),
    Route("/charges", create_charge, methods=["POST"]),
    Route("/charges", list_charges, methods=["GET"]),
    Route("/charges/{charge_id}", get_charge, methods=["GET"]),
    Route("/charges/{charge_id}/{action}", act_on_charge, methods=["POST"]),
    Route("/control/behaviour", set_behaviour, methods=["POST"]),
    Route("/control/payments/{payment_id}", set_payment_behaviour, methods=["POST"]),
    Route("/control/reset", reset, methods=["POST"]),
])
