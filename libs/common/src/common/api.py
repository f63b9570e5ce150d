"""The ninja-extra API every service mounts at ``/api/v1``: JWT auth by default, problem+json errors."""

from __future__ import annotations

import json

from ninja.parser import Parser
from ninja_extra import ControllerBase, NinjaExtraAPI
from ninja_extra.operation import AsyncOperation

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


class Controller(ControllerBase):
    """Base class of the services' controllers.

    ninja-extra creates the controller of every request through ``injector``, which reads the signature of
    the class's ``__init__``. Without one of its own that is ``object.__init__``, whose signature Python
    parses from text (tokenize + ast) on every call: ~95 µs per request, measured. A plain ``__init__``: ~10 µs.
    """

    def __init__(self) -> None:
        pass


class EventLoopOperation(AsyncOperation):
    """An async route run entirely on the event loop.

    ninja-extra's ``AsyncOperation.run`` parses the request's parameters and renders the response each through
    ``sync_to_async`` (thread-sensitive): two hops per request onto the single executor thread that every
    request of the worker process shares, so rendering queues behind other requests' rendering (the API
    reads benchmark measured it). Both steps are CPU-only here — the body is already in memory under ASGI,
    and our views return plain documents, never lazy QuerySets (rendering one would raise
    SynchronousOnlyOperation, loudly) — so this runs them inline; the steps are otherwise ninja-extra's own.
    """

    async def run(self, request, **kw):
        if getattr(self, "stream_format", None):
            return await super().run(request, **kw)
        try:
            async with self._prep_run(request, temporal_response=self.api.create_temporal_response(request),
                                      api=self.api, view_signature=self.signature, **kw) as ctx:
                error = await self._run_checks(request)
                if error:
                    return error
                route_function = self._get_route_function()
                if route_function:
                    if hasattr(route_function, "async_run_check_permissions"):
                        await route_function.async_run_check_permissions(ctx)
                    else:
                        route_function.run_permission_check(ctx)
                if not ctx.has_computed_route_parameters:
                    ctx.compute_route_parameters()
                result = await self.view_func(request, **ctx.kwargs["view_func_kwargs"])
                return self._result_to_response(request, result, ctx.response)
        except Exception as e:  # noqa: BLE001 — as ninja-extra: every error becomes the API's error response
            return self.api.on_exception(request, e)


class ProblemJsonAPI(NinjaExtraAPI):
    """Documents error responses (4xx/5xx) as ``application/problem+json``, the media type they are served with;
    runs async routes on the event loop (``EventLoopOperation``)."""

    def register_controllers(self, *controllers) -> None:
        super().register_controllers(*controllers)
        for _, router in self._routers:
            for path_view in getattr(router, "path_operations", {}).values():
                for operation in path_view.operations:
                    if type(operation) is AsyncOperation:
                        operation.__class__ = EventLoopOperation

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
