"""A minimal Django project for testing ``common`` against the real PostgreSQL and RabbitMQ."""

from pathlib import Path

from common.conf import service_settings
from common.logging import configure_logging

globals().update(service_settings(
    service="common",
    base_dir=Path(__file__).resolve().parent,
    apps=["testproject.testapp"],
    urlconf="testproject.urls",
))

configure_logging("common-tests")
