"""The borrowers service's public API, mounted at /api/v1."""

from common.api import build_api

api = build_api(title="LendSimple borrowers", description="Borrowers: records, search, KYC status, portfolio assignment", urls_namespace="borrowers")
api.auto_discover_controllers()
