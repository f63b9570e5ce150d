from loans_service.settings import *  # noqa: F403

ROOT_URLCONF = "nodb_urls"
