from common.errors import django_handler400, django_handler404, django_handler500
from common.health import health_urls
from django.contrib import admin
from django.urls import path

from loans_service.api import api

urlpatterns = [
    *health_urls(),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
]

handler400 = django_handler400
handler404 = django_handler404
handler500 = django_handler500
