from django.apps import AppConfig


class BusConfig(AppConfig):
    name = "common.bus"
    label = "bus"
    verbose_name = "Event bus (outbox and inbox)"
    default_auto_field = "django.db.models.BigAutoField"
