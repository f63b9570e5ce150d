"""The URL layout every API service shares: health, readiness and metrics, the admin, and its API at
``/api/v1``; problem+json for Django's own 400/404/500. A service's urls.py is two lines."""

from django.contrib import admin
from django.urls import path

from common.errors import django_handler400, django_handler404, django_handler500
from common.health import health_urls

handler400 = django_handler400
handler404 = django_handler404
handler500 = django_handler500


def service_urlpatterns(api) -> list:
    return [*health_urls(), path("admin/", admin.site.urls), path("api/v1/", api.urls)]
