"""Settings shared by every service, read from environment variables with safe local defaults.

A service's settings module does ``globals().update(service_settings(...))`` and then adds its own.
Every variable is documented in the README ("Environment").
"""

from __future__ import annotations

import os
from pathlib import Path

DEV_DJANGO_SECRET = "lendsimple-dev-django-secret-not-for-production"


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    return default if raw is None else raw.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return default if raw in (None, "") else int(raw)


def production() -> bool:
    """``LENDSIMPLE_ENV=production`` (the Kubernetes base sets it): no development default may stand in for a
    secret. Anything else is development (``make run``, the tests, docker compose)."""
    return (env("LENDSIMPLE_ENV", "development") or "development").strip().lower() == "production"


def secret(name: str, development_default: str) -> str:
    """The secret in ``name``. In production a missing one, the development default or a template placeholder
    (``CHANGE-ME…``, deploy/k8s/secret.example.yaml) stops the process at start: a service that verified tokens or
    processor callbacks with a key written in this repository would let anyone mint them."""
    value = env(name) or ""
    if production() and (not value or value == development_default or value.upper().startswith("CHANGE-ME")):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"{name} must be set to a real secret when LENDSIMPLE_ENV=production "
                                   "(it is missing, the development default or a placeholder)")
    return value or development_default


def broker_url() -> str:
    return env("LENDSIMPLE_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")


def database(service: str) -> dict:
    """``LENDSIMPLE_DB_POOL_MAX=<n>`` (n > 0) uses Django 5.2's psycopg pool (at most n connections per
    process; a request waits up to ``LENDSIMPLE_DB_POOL_TIMEOUT`` s for one instead of opening its own):
    without it every thread that touches the ORM (each request's own thread, the run_atomic/run_sync
    executor threads) keeps a connection open (``CONN_MAX_AGE``), and a burst exhausts PostgreSQL's
    max_connections."""
    pool_max = env_int("LENDSIMPLE_DB_POOL_MAX", 0)
    options: dict = {"connect_timeout": 5}
    if pool_max > 0:
        options["pool"] = {"min_size": 1, "max_size": pool_max,
                           "timeout": float(env("LENDSIMPLE_DB_POOL_TIMEOUT", "10"))}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": env("LENDSIMPLE_DB_NAME", f"lendsimple_{service}"),
        "USER": env("LENDSIMPLE_DB_USER", "postgres"),
        "PASSWORD": env("LENDSIMPLE_DB_PASSWORD", ""),
        "HOST": env("LENDSIMPLE_DB_HOST", "127.0.0.1"),
        "PORT": env("LENDSIMPLE_DB_PORT", "5432"),
        "CONN_MAX_AGE": 0 if pool_max > 0 else env_int("LENDSIMPLE_DB_CONN_MAX_AGE", 60),  # a pool forbids both
        "CONN_HEALTH_CHECKS": pool_max <= 0,
        "OPTIONS": options,
        "TEST": {"NAME": env("LENDSIMPLE_TEST_DB_NAME", f"test_lendsimple_{service}")},
    }


def service_url(service: str, default_port: int) -> str:
    return env(f"LENDSIMPLE_{service.upper()}_URL", f"http://127.0.0.1:{default_port}").rstrip("/")


def service_settings(*, service: str, base_dir: Path, apps: list[str], urlconf: str | None = None,
                     http: bool = True) -> dict:
    """The common part of a service's Django settings."""
    from common.tenancy.calendar import validate_time_zones

    validate_time_zones()       # a tenant on an unknown zone stops the process here, not at midnight
    if http and not env("LENDSIMPLE_JWT_PUBLIC_KEY"):
        from common.tokens import jwt_secret

        jwt_secret()        # HS256, the key that verifies every token: refused here, at start, in production
    installed = [
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "common.bus",
        *apps,
    ]
    middleware = []
    if http:
        installed = [
            "django.contrib.admin",
            *installed[:2],
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.staticfiles",
            "guardian",
            "ninja_extra",
            *installed[2:],
        ]
        middleware = [
            "common.middleware.request_context_middleware",
            "common.middleware.admin_middleware",        # sessions, CSRF, auth, messages: /admin only
        ]
    settings = {
        "SERVICE_NAME": service,
        "BASE_DIR": base_dir,
        "SECRET_KEY": secret("DJANGO_SECRET_KEY", DEV_DJANGO_SECRET),
        "DEBUG": env_bool("DJANGO_DEBUG", False),
        "ALLOWED_HOSTS": (env("DJANGO_ALLOWED_HOSTS", "*") or "*").split(","),
        "INSTALLED_APPS": installed,
        "MIDDLEWARE": middleware,
        "DATABASES": {"default": database(service)},
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        "LANGUAGE_CODE": "en-us",
        "STATIC_URL": "static/",
        "DATA_UPLOAD_MAX_MEMORY_SIZE": env_int("LENDSIMPLE_MAX_BODY_BYTES", 256 * 1024),
        "LENDSIMPLE_BROKER_URL": broker_url(),
        "CELERY_BROKER_URL": broker_url(),
        "LOGGING_CONFIG": None,
    }
    if urlconf:
        settings["ROOT_URLCONF"] = urlconf
    if http:
        settings.update({
            "AUTHENTICATION_BACKENDS": ["django.contrib.auth.backends.ModelBackend",
                                        "guardian.backends.ObjectPermissionBackend"],
            "ANONYMOUS_USER_NAME": None,
            "GUARDIAN_MONKEY_PATCH_USER": False,
            "TEMPLATES": [{
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [],
                "APP_DIRS": True,
                "OPTIONS": {"context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ]},
            }],
            "NINJA_EXTRA": {"INJECTOR_MODULES": []},
            # The admin's session/auth/messages middlewares are there, inside common.middleware.admin_middleware
            # (for /admin requests only); the admin's checks look for them at the top level.
            "SILENCED_SYSTEM_CHECKS": ["admin.E408", "admin.E409", "admin.E410"],
        })
    return settings
