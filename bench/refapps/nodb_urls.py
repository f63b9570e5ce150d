"""The ceiling: the loans service's own Django/ninja-extra stack (same settings, middleware, JWT auth and
permission class) with one more route that touches no database: GET /bench/ping."""

from common.api import build_api
from common.auth import IsViewer
from django.urls import path
from loans_service.urls import urlpatterns as service_urls
from ninja_extra import ControllerBase, api_controller, route


@api_controller("/bench", permissions=[IsViewer])
class PingController(ControllerBase):
    @route.get("/ping")
    async def ping(self):
        principal = self.context.request.auth
        return {"ok": True, "tenant": principal.tenant, "subject": principal.subject}


bench_api = build_api(title="bench", description="no-database route", urls_namespace="bench")
bench_api.register_controllers(PingController)

urlpatterns = [path("nodb/", bench_api.urls), *service_urls]
