"""The ninja-extra API every service mounts at ``/api/v1``: JWT auth by default, problem+json errors."""

from __future__ import annotations

from ninja_extra import NinjaExtraAPI

from common.auth import JWTAuth
from common.errors import install_exception_handlers


def build_api(*, title: str, description: str, urls_namespace: str) -> NinjaExtraAPI:
    api = NinjaExtraAPI(title=title, version="1.0.0", description=description, urls_namespace=urls_namespace,
                        auth=JWTAuth(), docs_url="/docs", openapi_url="/openapi.json")
    install_exception_handlers(api)
    return api
