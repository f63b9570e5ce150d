import os

from common.asgi import get_asgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "nodb_settings"
application = get_asgi_application()
