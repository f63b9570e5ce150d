from common.urls import handler400, handler404, handler500, service_urlpatterns  # noqa: F401 (Django reads the handlers)

from payments_service.api import api

urlpatterns = service_urlpatterns(api)
