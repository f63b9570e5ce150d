"""One error model for every service: RFC 9457 problem+json.

``{"type", "title", "status", "detail"}`` plus ``"errors": [{"loc", "msg"}]`` for validation.
Domain code raises the ``ProblemError`` subclasses below; ``install_exception_handlers(api)`` turns
them, ninja/ninja-extra/Django exceptions and anything unexpected into problem responses. Bad input
is never a 500 and no response ever carries a stack trace.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import structlog
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.db import DataError, OperationalError
from django.http import Http404, HttpResponse
from ninja import Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja_extra.exceptions import APIException

from common.tenancy import TenantNotSet

log = structlog.get_logger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
          409: "Conflict", 413: "Payload Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Entity",
          429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


class ProblemErrorItem(Schema):
    loc: list[str | int]
    msg: str


class ProblemOut(Schema):
    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemErrorItem] | None = None


class ProblemError(Exception):
    status = 500
    code = "error"

    def __init__(self, detail: str, *, code: str | None = None, errors: list[dict] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.code
        self.errors = errors


class BadRequest(ProblemError):
    status, code = 400, "bad_request"


class Unauthorized(ProblemError):
    status, code = 401, "unauthorized"


class Forbidden(ProblemError):
    status, code = 403, "forbidden"


class NotFound(ProblemError):
    status, code = 404, "not_found"


class Conflict(ProblemError):
    status, code = 409, "conflict"


class Unprocessable(ProblemError):
    status, code = 422, "unprocessable"


class UpstreamUnavailable(ProblemError):
    status, code = 503, "upstream_unavailable"


def problem_body(status: int, detail: str, *, code: str | None = None, errors: list[dict] | None = None) -> dict:
    body: dict[str, Any] = {
        "type": f"https://lendsimple.dev/problems/{code or TITLES.get(status, 'error').lower().replace(' ', '_')}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def problem_response(status: int, detail: str, *, code: str | None = None, errors: list[dict] | None = None,
                     headers: dict | None = None) -> HttpResponse:
    response = HttpResponse(json.dumps(problem_body(status, detail, code=code, errors=errors)), status=status,
                            content_type=PROBLEM_CONTENT_TYPE)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def validation_errors(raw_errors: list[dict]) -> list[dict]:
    """ninja/pydantic error dicts → ``[{"loc": [...], "msg": "..."}]`` (no input echo, no ctx objects)."""
    out = []
    for err in raw_errors:
        loc = [p if isinstance(p, int) else str(p) for p in err.get("loc", [])]
        out.append({"loc": loc, "msg": str(err.get("msg", "invalid"))})
    return out


def install_exception_handlers(api) -> None:
    def on_problem(request, exc: ProblemError):
        return problem_response(exc.status, exc.detail, code=exc.code, errors=exc.errors)

    def on_validation(request, exc: NinjaValidationError):
        return problem_response(422, "the request is not valid", code="validation_error",
                                errors=validation_errors(exc.errors))

    def on_authentication(request, exc: AuthenticationError):
        return problem_response(401, "a valid bearer token is required", code="unauthorized",
                                headers={"WWW-Authenticate": "Bearer"})

    def on_http_error(request, exc: HttpError):
        status = exc.status_code
        detail = getattr(exc, "detail", None) or getattr(exc, "message", None) or str(exc)
        return problem_response(status, detail if isinstance(detail, str) else str(detail),
                                headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)

    def on_not_found(request, exc):
        return problem_response(404, "not found", code="not_found")

    def on_tenant_not_set(request, exc):
        log.error("request.without_tenant", path=request.path)
        return problem_response(401, "a valid bearer token is required", code="unauthorized")

    def on_too_big(request, exc: RequestDataTooBig):
        return problem_response(413, f"the request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes",
                                code="payload_too_large")

    def on_data_error(request, exc: DataError):
        # SQLSTATE class 22 (data exception): a value from the request that its column cannot hold (a NUL
        # byte in text, an integer beyond bigint, ...). Bad input, not a server fault.
        log.warning("request.data_error", path=request.path, error=str(exc)[:200])
        # the database does not say which field; the request is still a validation problem, and API.md gives
        # every one an ``errors`` list
        return problem_response(422, "a value in the request is out of range or not valid",
                                code="validation_error",
                                errors=[{"loc": ["body"], "msg": "a value is out of range or contains a character "
                                                                 "that cannot be stored (e.g. a NUL byte)"}])

    def on_database_unavailable(request, exc: Exception):
        # The database refused or dropped the connection (too many clients, restarting), no pooled
        # connection came free in time, or the transaction lost a deadlock/serialization race: transient,
        # so 503 with Retry-After rather than a 500.
        log.warning("request.database_unavailable", path=request.path, error=str(exc)[:200])
        response = problem_response(503, "the database is busy or unavailable; retry shortly",
                                    code="database_unavailable")
        response["Retry-After"] = "1"
        return response

    def on_unexpected(request, exc: Exception):
        log.exception("request.failed", path=request.path, method=request.method)
        return problem_response(500, "an unexpected error occurred; it has been logged", code="internal_error")

    api.add_exception_handler(Exception, on_unexpected)
    api.add_exception_handler(TenantNotSet, on_tenant_not_set)
    api.add_exception_handler(RequestDataTooBig, on_too_big)
    api.add_exception_handler(DataError, on_data_error)
    api.add_exception_handler(psycopg.DataError, on_data_error)               # async-native reads (common.adb)
    api.add_exception_handler(OperationalError, on_database_unavailable)
    api.add_exception_handler(psycopg.OperationalError, on_database_unavailable)   # incl. psycopg_pool.PoolTimeout
    api.add_exception_handler(Http404, on_not_found)
    api.add_exception_handler(ObjectDoesNotExist, on_not_found)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(APIException, on_http_error)
    api.add_exception_handler(AuthenticationError, on_authentication)
    api.add_exception_handler(NinjaValidationError, on_validation)
    api.add_exception_handler(ProblemError, on_problem)


def django_handler404(request, exception=None):
    return problem_response(404, "not found", code="not_found")


def django_handler500(request):
    return problem_response(500, "an unexpected error occurred; it has been logged", code="internal_error")


def django_handler400(request, exception=None):
    return problem_response(400, "bad request", code="bad_request")
