"""The loans API (API.md "loans"): thin ninja-extra controllers, one per resource.

Roles: viewers read; loan officers create loans and run their lifecycle; admins configure products,
run accruals, charge off, write off and assign loans. Loans are visible only with a grant (the creator
gets view and change) unless the caller is an admin or a service; no grant → 404. The creates (products,
loans, accrual runs) and the lifecycle actions (approve … write-off) accept `Idempotency-Key`
(``common.idempotency``).
"""


from datetime import date
from uuid import UUID

from common.api import Controller
from common.auth import IsAdmin, IsLoanOfficer, IsViewer, Principal
from common.errors import Conflict, ProblemOut
from common.idempotency import HEADER_DOC, idempotency_key_from_header, idempotent_response
from common.tenancy.calendar import business_date
from ninja import Header
from ninja_extra import api_controller, route

from loans import selectors, services
from loans.errors import MESSAGES, LoanError
from loans.models import LoanStatus
from loans.presenters import loan_out, product_out, schedule_out
from loans.schemas import (
    AccrualRunIn,
    AccrualRunOut,
    AssignIn,
    AssignOut,
    CancelIn,
    DenyIn,
    DisburseIn,
    EmptyIn,
    LoanCreateIn,
    LoanListOut,
    LoanOut,
    LoanWithScheduleOut,
    LossIn,
    PayoffQuoteOut,
    ProductIn,
    ProductListOut,
    ProductOut,
    ScheduleOut,
    SchedulePreviewIn,
    TransactionListOut,
)

MAX_LIMIT = 500
PROBLEMS = {401: ProblemOut, 403: ProblemOut, 404: ProblemOut, 422: ProblemOut}
WRITE_PROBLEMS = {**PROBLEMS, 409: ProblemOut}


def _idempotency_key_header():
    return Header(None, alias="Idempotency-Key", description=HEADER_DOC)


def _page(limit: int, offset: int) -> tuple[int, int]:
    return max(1, min(limit, MAX_LIMIT)), max(0, offset)


class _Base(Controller):
    @property
    def principal(self) -> Principal:
        return self.context.request.auth


@api_controller("/products", tags=["products"], permissions=[IsViewer])
class ProductController(_Base):
    @route.post("", response={201: ProductOut, **WRITE_PROBLEMS}, permissions=[IsAdmin])
    async def create_product(self, payload: ProductIn, idempotency_key: str | None = _idempotency_key_header()):
        answer = await services.product_create(principal=self.principal, data=payload,
                                               idempotency_key=idempotency_key_from_header(idempotency_key))
        return idempotent_response(answer)

    @route.get("", response={200: ProductListOut, **PROBLEMS})
    async def list_products(self, currency: str | None = None, limit: int = 50, offset: int = 0):
        limit, offset = _page(limit, offset)
        qs = selectors.product_list(filters={"currency": currency})
        items = [product_out(p) async for p in qs[offset:offset + limit]]
        return {"items": items, "count": await qs.acount()}

    @route.get("/{product_id}", response={200: ProductOut, **PROBLEMS})
    async def get_product(self, product_id: UUID):
        return product_out(await selectors.product_get(product_id=product_id))


@api_controller("/schedule-preview", tags=["schedules"], permissions=[IsViewer])
class SchedulePreviewController(_Base):
    @route.post("", response={200: ScheduleOut, **PROBLEMS})
    async def preview_schedule(self, payload: SchedulePreviewIn):
        """The schedule a disbursement with these inputs would post (same engine, same terms)."""
        return await services.schedule_preview(product_id=payload.product_id, principal=payload.principal,
                                               term=payload.term, disbursement_date=payload.disbursement_date,
                                               first_payment_date=payload.first_payment_date)


@api_controller("/loans", tags=["loans"], permissions=[IsViewer])
class LoanController(_Base):
    @route.post("", response={201: LoanOut, **WRITE_PROBLEMS, 503: ProblemOut}, permissions=[IsLoanOfficer])
    async def create_loan(self, payload: LoanCreateIn, idempotency_key: str | None = _idempotency_key_header()):
        answer = await services.loan_create(principal=self.principal, data=payload,
                                            idempotency_key=idempotency_key_from_header(idempotency_key))
        return idempotent_response(answer)

    @route.get("", response={200: LoanListOut, **PROBLEMS})
    async def list_loans(self, borrower_id: UUID | None = None, status: LoanStatus | None = None,
                         product_id: UUID | None = None, limit: int = 50, offset: int = 0):
        limit, offset = _page(limit, offset)
        qs = await selectors.loan_list(principal=self.principal, filters={
            "borrower_id": borrower_id, "status": status, "product_id": product_id})
        items = [loan_out(loan) async for loan in qs[offset:offset + limit]]
        return {"items": items, "count": await qs.acount()}

    @route.get("/{loan_id}", response={200: LoanOut, **PROBLEMS})
    async def get_loan(self, loan_id: UUID):
        return loan_out(await selectors.loan_read(principal=self.principal, loan_id=loan_id))

    async def _changeable(self, loan_id: UUID) -> None:
        await selectors.loan_get(principal=self.principal, loan_id=loan_id, perm="change")

    async def _act(self, action: str, loan_id: UUID, payload, idempotency_key: str | None, **kwargs):
        await self._changeable(loan_id)
        answer = await services.loan_action(
            action=action, principal=self.principal, loan_id=loan_id,
            request_body=payload.model_dump(mode="json") if payload is not None else {},
            idempotency_key=idempotency_key_from_header(idempotency_key), **kwargs)
        return idempotent_response(answer)

    @route.post("/{loan_id}/approve", response={200: LoanOut, **WRITE_PROBLEMS}, permissions=[IsLoanOfficer])
    async def approve_loan(self, loan_id: UUID, payload: EmptyIn | None = None,
                           idempotency_key: str | None = _idempotency_key_header()):
        return await self._act("approve", loan_id, payload, idempotency_key)

    @route.post("/{loan_id}/deny", response={200: LoanOut, **WRITE_PROBLEMS}, permissions=[IsLoanOfficer])
    async def deny_loan(self, loan_id: UUID, payload: DenyIn, idempotency_key: str | None = _idempotency_key_header()):
        return await self._act("deny", loan_id, payload, idempotency_key, reason=payload.reason)

    @route.post("/{loan_id}/cancel", response={200: LoanOut, **WRITE_PROBLEMS}, permissions=[IsLoanOfficer])
    async def cancel_loan(self, loan_id: UUID, payload: CancelIn | None = None,
                          idempotency_key: str | None = _idempotency_key_header()):
        reason = (payload.reason if payload else None) or ""
        return await self._act("cancel", loan_id, payload, idempotency_key, reason=reason)

    @route.post("/{loan_id}/disburse", response={200: LoanWithScheduleOut, **WRITE_PROBLEMS},
                permissions=[IsLoanOfficer])
    async def disburse_loan(self, loan_id: UUID, payload: DisburseIn,
                            idempotency_key: str | None = _idempotency_key_header()):
        """Generates and stores the schedule, assesses the origination fee, tells the ledger: loan `active`."""
        return await self._act("disburse", loan_id, payload, idempotency_key,
                               disbursement_date=payload.disbursement_date,
                               first_payment_date=payload.first_payment_date)

    @route.post("/{loan_id}/charge-off", response={200: LoanOut, **WRITE_PROBLEMS}, permissions=[IsAdmin])
    async def charge_off_loan(self, loan_id: UUID, payload: LossIn | None = None,
                              idempotency_key: str | None = _idempotency_key_header()):
        as_of, reason = self._loss(payload)
        return await self._act("charge-off", loan_id, payload, idempotency_key, as_of=as_of, reason=reason)

    @route.post("/{loan_id}/write-off", response={200: LoanOut, **WRITE_PROBLEMS}, permissions=[IsAdmin])
    async def write_off_loan(self, loan_id: UUID, payload: LossIn | None = None,
                             idempotency_key: str | None = _idempotency_key_header()):
        as_of, reason = self._loss(payload)
        return await self._act("write-off", loan_id, payload, idempotency_key, as_of=as_of, reason=reason)

    def _loss(self, payload: LossIn | None) -> tuple[date, str]:
        as_of = (payload.as_of if payload else None) or business_date(self.principal.tenant)
        return as_of, (payload.reason if payload else None) or ""

    @route.post("/{loan_id}/assign", response={200: AssignOut, **PROBLEMS}, permissions=[IsAdmin])
    async def assign_loan(self, loan_id: UUID, payload: AssignIn):
        """Grant a user of this tenant view (and change) on the loan: portfolio assignment."""
        await selectors.loan_get(principal=self.principal, loan_id=loan_id)
        await services.loan_assign(principal=self.principal, loan_id=loan_id, subject=payload.subject,
                                   perms=payload.perms)
        return {"loan_id": loan_id, "subject": payload.subject, "perms": payload.perms}

    @route.get("/{loan_id}/schedule", response={200: ScheduleOut, **WRITE_PROBLEMS})
    async def get_schedule(self, loan_id: UUID):
        loan = await selectors.loan_get(principal=self.principal, loan_id=loan_id)
        rows = [row async for row in selectors.schedule_rows(loan=loan)]
        if not rows:
            raise Conflict(MESSAGES[LoanError.NOT_DISBURSED], code=LoanError.NOT_DISBURSED.value)
        return schedule_out(rows, loan.product.rounding_places)

    @route.get("/{loan_id}/payoff-quote", response={200: PayoffQuoteOut, **WRITE_PROBLEMS})
    async def get_payoff_quote(self, loan_id: UUID, as_of: date | None = None):
        """What pays the loan off exactly on `as_of` (default: the tenant's business date): the ledger's balances as last
        reported, plus interest accrued from the last balance change through `as_of` (a flat-interest
        loan: the interest its schedule earns through `as_of`)."""
        loan = await selectors.loan_get(principal=self.principal, loan_id=loan_id)
        return await selectors.loan_payoff_quote(loan=loan, as_of=as_of or business_date(self.principal.tenant))

    @route.get("/{loan_id}/transactions", response={200: TransactionListOut, **PROBLEMS})
    async def list_transactions(self, loan_id: UUID, kind: str | None = None, limit: int = 50, offset: int = 0):
        limit, offset = _page(limit, offset)
        loan = await selectors.loan_get(principal=self.principal, loan_id=loan_id)
        qs = selectors.transaction_list(loan=loan, filters={"kind": kind})
        places = loan.product.rounding_places
        items = [{"transaction_id": t.transaction_id, "kind": t.kind, "effective_date": t.effective_date,
                  "amount": f"{t.amount:.{places}f}", "breakdown": t.breakdown, "reference": t.reference or None,
                  "created_at": t.created_at} async for t in qs[offset:offset + limit]]
        return {"items": items, "count": await qs.acount()}


@api_controller("/accrual-runs", tags=["accrual runs"], permissions=[IsViewer])
class AccrualRunController(_Base):
    @route.post("", response={202: AccrualRunOut, **WRITE_PROBLEMS}, permissions=[IsAdmin])
    async def start_accrual_run(self, payload: AccrualRunIn, idempotency_key: str | None = _idempotency_key_header()):
        """Brings every active loan of the tenant up to `through` (the ledger worker does the work)."""
        answer = await services.accrual_run_create(principal=self.principal, through=payload.through,
                                                   idempotency_key=idempotency_key_from_header(idempotency_key))
        return idempotent_response(answer)

    @route.get("/{run_id}", response={200: AccrualRunOut, **PROBLEMS})
    async def get_accrual_run(self, run_id: UUID):
        return await selectors.accrual_run_get(run_id=run_id)

