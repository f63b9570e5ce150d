from django.apps import AppConfig


class BorrowersConfig(AppConfig):
    name = "borrowers"
    default_auto_field = "django.db.models.BigAutoField"
