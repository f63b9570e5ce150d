"""The payments service's public API, mounted at /api/v1."""

from common.api import build_api

api = build_api(title="LendSimple payments", description="Payments: idempotent intake, processor settlement, allocation status, returns", urls_namespace="payments")
api.auto_discover_controllers()
