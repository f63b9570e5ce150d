"""The loans service's public API, mounted at /api/v1."""

from common.api import build_api

api = build_api(title="LendSimple loans", description="Loans: products, applications, lifecycle, schedules, payoff quotes, balances, accrual runs", urls_namespace="loans")
api.auto_discover_controllers()
