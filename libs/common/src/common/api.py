"""The ninja-extra API every service mounts at ``/api/v1``: JWT auth by default, problem+json errors."""

from __future__ import annotations

import json

from ninja.parser import Parser
from ninja_extra import NinjaExtraAPI

from common.auth import JWTAuth
from common.errors import install_exception_handlers

PROBLEM_JSON = "application/problem+json"


class JsonOnlyParser(Parser):
    """Request bodies are JSON: a body sent as another media type (form, XML, text) is refused (ninja turns
    the error into a 400 problem) instead of being parsed as JSON anyway. No Content-Type at all is read as JSON."""

    def parse_body(self, request):
        media_type = (request.content_type or "").lower()
        if media_type and media_type != "application/json" and not media_type.endswith("+json"):
            raise ValueError(f"unsupported media type {media_type!r}; send application/json")
        return json.loads(request.body)


class ProblemJsonAPI(NinjaExtraAPI):
    """Documents error responses (4xx/5xx) as ``application/problem+json``, the media type they are served with."""

    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses") or {}
                problem = None
                for status, response in responses.items():
                    content = response.get("content") if isinstance(response, dict) else None
                    if str(status)[:1] in "45" and content and "application/json" in content:
                        content[PROBLEM_JSON] = content.pop("application/json")
                    if str(status)[:1] == "4" and content and PROBLEM_JSON in content:
                        problem = content[PROBLEM_JSON]
                if problem is None:
                    continue
                # Parameters and bodies are validated (422); a body may also be unparseable (400) or too large (413).
                missing = [(422, "Unprocessable Content")] if operation.get("parameters") or \
                    operation.get("requestBody") else []
                if operation.get("requestBody"):
                    missing += [(400, "Bad Request"), (413, "Content Too Large")]
                for status, description in missing:
                    if status not in responses and str(status) not in responses:
                        responses[status] = {"description": description, "content": {PROBLEM_JSON: problem}}
        return schema


def build_api(*, title: str, description: str, urls_namespace: str) -> NinjaExtraAPI:
    api = ProblemJsonAPI(title=title, version="1.0.0", description=description, urls_namespace=urls_namespace,
                         auth=JWTAuth(), docs_url="/docs", openapi_url="/openapi.json", parser=JsonOnlyParser())
    install_exception_handlers(api)
    return api
