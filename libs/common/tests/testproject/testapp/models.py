from common.tenancy import TenantModel
from django.db import models


class Widget(TenantModel):
    name = models.CharField(max_length=100)


class Counter(TenantModel):
    value = models.IntegerField(default=0)


class TaskRun(models.Model):
    """Written by the test task with the tenant the worker restored (unscoped on purpose)."""

    marker = models.CharField(max_length=64, unique=True)
    tenant_id = models.CharField(max_length=64)
