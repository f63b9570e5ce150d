from common.api import Controller, build_api
from common.auth import IsLoanOfficer
from common.tasks import async_task_delay
from ninja import Schema
from ninja_extra import api_controller, route

from testproject.testapp.tasks import record_tenant

api = build_api(title="common tests", description="", urls_namespace="common-tests")


class DispatchIn(Schema):
    marker: str


@api_controller("/probe")
class ProbeController(Controller):
    @route.post("/dispatch", response={202: dict})
    async def dispatch(self, payload: DispatchIn):
        await async_task_delay(record_tenant, payload.marker)
        return 202, {"queued": payload.marker}

    @route.get("/whoami", response=dict)
    async def whoami(self, request):
        return {"tenant": request.auth.tenant, "roles": sorted(request.auth.roles)}

    @route.get("/db-busy", response=dict)
    async def db_busy(self):
        from django.db import OperationalError

        raise OperationalError("FATAL: sorry, too many clients already")

    @route.post("/officer-only", response=dict, permissions=[IsLoanOfficer])
    async def officer_only(self):
        return {"ok": True}


api.register_controllers(ProbeController)
