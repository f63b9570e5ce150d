"""HTTP API of the payments service (API.md "payments"). Thin: parse, call a service, shape the answer."""

import uuid

from common.api import Controller
from common.auth import IsCollector, IsViewer
from common.errors import ProblemOut
from common.idempotency import (
    HEADER_DOC,
    Answer,
    idempotency_key_from_header,
    idempotent_response,
    request_fingerprint,
)
from django.http import HttpRequest
from ninja import Header, Query
from ninja_extra import api_controller, route

from payments.charging import payment_request_charge
from payments.schemas import (
    PaymentCreateIn,
    PaymentListOut,
    PaymentOut,
    PaymentReturnIn,
    Status,
    WebhookAckOut,
    payment_body,
)
from payments.selectors import payment_get, payment_list_visible
from payments.services import payment_intake, payment_return
from payments.webhooks import parse_callback, processor_callback_receive

MAX_LIMIT = 200


@api_controller("/payments", tags=["payments"], permissions=[IsViewer])
class PaymentController(Controller):
    @route.post("", response={201: PaymentOut, 400: ProblemOut, 401: ProblemOut, 403: ProblemOut, 409: ProblemOut,
                              422: ProblemOut, 503: ProblemOut}, permissions=[IsCollector])
    async def create(self, request: HttpRequest, payload: PaymentCreateIn,
                     idempotency_key: str | None = Header(None, alias="Idempotency-Key", description=HEADER_DOC)):
        """Record a payment. With `Idempotency-Key` (recommended) a repeat with the same body returns the
        first response and a different body under the same key is a 409; without one, every request is a
        new payment (API.md: writes *accept* the key)."""
        key = idempotency_key_from_header(idempotency_key)
        fingerprint = request_fingerprint(method="POST", path="/api/v1/payments", body=payload.model_dump(mode="json"))
        intake = await payment_intake(idempotency_key=key, request_hash=fingerprint, loan_id=payload.loan_id,
                                      amount=payload.amount, currency=payload.currency, method=payload.method,
                                      value_date=payload.value_date, caller=request.auth)
        if intake.payment is not None:
            # After commit: a processor outage leaves the payment pending for the sweep, never fails this.
            await payment_request_charge(payment_id=intake.payment.id, payment=intake.payment)
        return idempotent_response(Answer(intake.status, intake.body, replayed=intake.payment is None))

    @route.get("", response={200: PaymentListOut, 401: ProblemOut, 403: ProblemOut, 422: ProblemOut})
    async def list(self, request: HttpRequest, loan_id: uuid.UUID | None = None, status: Status | None = None,
                   limit: int = Query(50, ge=1, le=MAX_LIMIT), offset: int = Query(0, ge=0)):
        """The tenant's payments (an admin), or those of the loans the caller holds a grant on."""
        qs = await payment_list_visible(caller=request.auth, filters={"loan_id": loan_id, "status": status})
        items = [payment_body(p) async for p in qs[offset:offset + limit]]
        return {"items": items, "count": await qs.acount()}

    @route.get("/{payment_id}", response={200: PaymentOut, 401: ProblemOut, 403: ProblemOut, 404: ProblemOut})
    async def get(self, request: HttpRequest, payment_id: uuid.UUID):
        return payment_body(await payment_get(payment_id=payment_id, caller=request.auth))

    @route.post("/{payment_id}/return", response={200: PaymentOut, 401: ProblemOut, 403: ProblemOut,
                                                  404: ProblemOut, 409: ProblemOut, 422: ProblemOut},
                permissions=[IsCollector])
    async def return_(self, request: HttpRequest, payment_id: uuid.UUID, payload: PaymentReturnIn,
                      idempotency_key: str | None = Header(None, alias="Idempotency-Key", description=HEADER_DOC)):
        """Return (e.g. NSF) a settled or allocated payment: its allocation is reversed in the ledger. With
        `Idempotency-Key` a repeat gets the first answer again."""
        await payment_get(payment_id=payment_id, caller=request.auth)
        return idempotent_response(await payment_return(payment_id=payment_id, reason=payload.reason,
                                                        idempotency_key=idempotency_key_from_header(idempotency_key)))


@api_controller("/webhooks", tags=["webhooks"], auth=None, permissions=[])
class WebhookController(Controller):
    @route.post("/processor", response={200: WebhookAckOut, 400: ProblemOut, 401: ProblemOut})
    async def processor(self, request: HttpRequest):
        """Processor callbacks, signed with HMAC-SHA256 over `timestamp.body` (`X-Processor-Timestamp`,
        `X-Processor-Signature: sha256=<hex>`); a bad or stale signature is a 401, a replay a no-op."""
        callback = parse_callback(request.body, timestamp=request.headers.get("X-Processor-Timestamp"),
                                  signature=request.headers.get("X-Processor-Signature"))
        result = await processor_callback_receive(callback)
        return {"received": True, "duplicate": result.duplicate, "outcome": result.outcome}
