"""The worker's commands. Every task is a TenantTask; bodies are sync and use the sync ORM."""

from accrual_worker.celery import app
from common.tasks import TenantTask
from common.tenancy import require_tenant


@app.task(base=TenantTask, name="ledger.ping", bind=True)
def ping(self) -> str:
    """Liveness of the command path: answers with the tenant it ran for."""
    return require_tenant()
