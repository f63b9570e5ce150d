from common.health import health_urls
from django.urls import path

from testproject.testapp.api import api

urlpatterns = [*health_urls(), path("api/v1/", api.urls)]

handler404 = "common.errors.django_handler404"
handler500 = "common.errors.django_handler500"
