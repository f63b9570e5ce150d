from common.idempotency import IdempotencyRecordBase
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


class BusEffect(TenantModel):
    """What the bus test handler did. ``event_id`` is deliberately not unique: an event applied
    twice shows up as two rows, which is what the exactly-once-in-effect tests look for."""

    event_id = models.UUIDField(db_index=True)
    marker = models.CharField(max_length=64, db_index=True)
    correlation_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)


class BusProjection(TenantModel):
    """A per-key projection kept in order with the payload's ``sequence`` (stale updates ignored)."""

    key = models.CharField(max_length=64)
    sequence = models.IntegerField(default=0)
    value = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant_id", "key"], name="testapp_projection_key")]


class IdempotencyRecord(IdempotencyRecordBase):
    """The concrete ``Idempotency-Key`` table of the test app (``common.idempotency``)."""

    widget = models.ForeignKey(Widget, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
