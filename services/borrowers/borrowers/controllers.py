"""HTTP API of borrowers (API.md "borrowers"): thin adapters between HTTP and services/selectors."""

import re
import uuid
from typing import Any

from common.api import Controller
from common.auth import IsAdmin, IsLoanOfficer, IsViewer
from common.errors import BadRequest, ProblemOut
from ninja import Header, Query, Schema, Status
from ninja_extra import api_controller, route
from pydantic import Field

from borrowers import errors, selectors, services
from borrowers.models import KycStatus
from borrowers.schemas import (
    AssignIn,
    AssignOut,
    BorrowerCreateIn,
    BorrowerListOut,
    BorrowerOut,
    BorrowerUpdateIn,
)

_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
IDEMPOTENCY_DOC = "same key + same body: the first response again; same key + another body: 409"
IF_MATCH_DOC = 'the version you read (ETag), e.g. "3": the update applies only to that version, else 409'
READ_ERRORS = {401: ProblemOut, 403: ProblemOut, 404: ProblemOut}
WRITE_ERRORS = {**READ_ERRORS, 400: ProblemOut, 409: ProblemOut, 422: ProblemOut}


class BorrowerListQuery(Schema):
    search: str | None = Field(default=None, max_length=200, description="part of the name or email")
    kyc_status: KycStatus | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0)


def _fields(payload: Schema) -> dict[str, Any]:
    fields = payload.model_dump(exclude_unset=True, exclude={"version"})
    if isinstance(fields.get("address"), dict):
        fields["address"] = {k: v for k, v in fields["address"].items() if v is not None}
    return fields


def _expected_version(header: str | None, payload: BorrowerUpdateIn) -> int | None:
    header_version = None
    if header is not None:
        match = _IF_MATCH.match(header)
        if not match:
            raise BadRequest(errors.BAD_IF_MATCH, code=errors.BorrowerErrorCode.BAD_IF_MATCH)
        header_version = int(match.group(1))
    if header_version is not None and payload.version is not None and header_version != payload.version:
        raise BadRequest("If-Match and version disagree", code=errors.BorrowerErrorCode.BAD_IF_MATCH)
    return header_version if header_version is not None else payload.version


def _render(borrower) -> dict[str, Any]:
    return BorrowerOut.from_orm(borrower).model_dump(mode="json")


def _idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise BadRequest(errors.BAD_IDEMPOTENCY_KEY, code=errors.BorrowerErrorCode.BAD_IDEMPOTENCY_KEY)
    return key


@api_controller("/borrowers", tags=["borrowers"], permissions=[IsViewer])
class BorrowerController(Controller):
    def _etag(self, borrower) -> None:
        self.context.response["ETag"] = f'"{borrower.version}"'

    @route.post("", response={201: BorrowerOut, **WRITE_ERRORS}, permissions=[IsLoanOfficer],
                summary="Create a borrower (loan officer+); the creator is granted view and change")
    async def create_borrower(self, request, payload: BorrowerCreateIn,
                              idempotency_key: str | None = Header(None, alias="Idempotency-Key",
                                                                  description=IDEMPOTENCY_DOC)):
        result = await services.borrower_create(principal=request.auth, fields=_fields(payload),
                                                idempotency_key=_idempotency_key(idempotency_key), render=_render)
        body = result if isinstance(result, dict) else _render(result)  # a dict is the replayed first answer
        self.context.response["ETag"] = f'"{body["version"]}"'
        self.context.response["Location"] = f"{request.path.rstrip('/')}/{body['id']}"
        return Status(201, body)

    @route.get("", response={200: BorrowerListOut, **READ_ERRORS, 422: ProblemOut},
               summary="Borrowers you may see, newest first; search by name or email")
    async def list_borrowers(self, request, query: Query[BorrowerListQuery]):
        filters = selectors.BorrowerFilters(search=query.search, kyc_status=query.kyc_status)
        qs = await selectors.borrower_list(principal=request.auth, filters=filters)
        count = await qs.acount()
        items = [b async for b in qs[query.offset:query.offset + query.limit]]
        return {"items": items, "count": count}

    @route.get("/{borrower_id}", response={200: BorrowerOut, **READ_ERRORS, 422: ProblemOut},
               summary="One borrower (404 unless it is yours to see)")
    async def get_borrower(self, request, borrower_id: uuid.UUID):
        borrower = await selectors.borrower_get(principal=request.auth, borrower_id=borrower_id)
        self._etag(borrower)
        return borrower

    @route.patch("/{borrower_id}", response={200: BorrowerOut, **WRITE_ERRORS}, permissions=[IsLoanOfficer],
                 summary="Partial update (loan officer+ with a change grant); If-Match/version for concurrency")
    async def update_borrower(self, request, borrower_id: uuid.UUID, payload: BorrowerUpdateIn,
                              if_match: str | None = Header(None, alias="If-Match", description=IF_MATCH_DOC)):
        borrower = await services.borrower_update(principal=request.auth, borrower_id=borrower_id,
                                                  changes=_fields(payload),
                                                  expected_version=_expected_version(if_match, payload))
        self._etag(borrower)
        return borrower

    @route.post("/{borrower_id}/assign", response={200: AssignOut, **WRITE_ERRORS}, permissions=[IsAdmin],
                summary="Assign the borrower to a user of your tenant (admin): grants view/change")
    async def assign_borrower(self, request, borrower_id: uuid.UUID, payload: AssignIn):
        borrower = await services.borrower_assign(principal=request.auth, borrower_id=borrower_id,
                                                  subject=payload.subject, perms=tuple(payload.perms))
        return {"borrower_id": borrower.id, "subject": payload.subject, "perms": sorted(set(payload.perms))}
