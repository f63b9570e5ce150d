"""ASGI entry point: `gunicorn borrowers_service.asgi:application -k uvicorn.workers.UvicornWorker`."""

import os

from common.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "borrowers_service.settings")
application = get_asgi_application()
