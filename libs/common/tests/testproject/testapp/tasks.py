from common.tasks import TenantTask
from common.tenancy import require_tenant

from testproject.testapp.celery import app
from testproject.testapp.models import TaskRun


@app.task(base=TenantTask, name="tests.record_tenant", bind=True)
def record_tenant(self, marker: str) -> None:
    TaskRun.objects.create(marker=marker, tenant_id=require_tenant())
