"""Outbox and inbox tables. ``common.bus`` is a Django app that every service installs, so each
service's own database gets its own ``bus_outbox`` and ``bus_inbox`` tables."""

from __future__ import annotations

from django.db import models


class OutboxBase(models.Model):
    KIND_EVENT = "event"
    KIND_COMMAND = "command"
    KINDS = [(KIND_EVENT, "integration event"), (KIND_COMMAND, "celery command")]

    id = models.BigAutoField(primary_key=True)
    message_id = models.UUIDField(unique=True)          # event_id, or the Celery task id of a command
    kind = models.CharField(max_length=16, choices=KINDS)
    name = models.CharField(max_length=128)             # event type, or task name
    tenant_id = models.CharField(max_length=64)
    correlation_id = models.CharField(max_length=64, blank=True, default="")
    body = models.JSONField()                           # the envelope, or {"args": [...], "kwargs": {...}}
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        abstract = True
        indexes = [
            models.Index(fields=["id"], name="%(app_label)s_outbox_unsent", condition=models.Q(sent_at__isnull=True)),
        ]


class OutboxMessage(OutboxBase):
    class Meta(OutboxBase.Meta):
        db_table = "bus_outbox"


class InboxBase(models.Model):
    id = models.BigAutoField(primary_key=True)
    consumer = models.CharField(max_length=64)
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=128)
    tenant_id = models.CharField(max_length=64)
    handled_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        constraints = [models.UniqueConstraint(fields=["consumer", "event_id"], name="%(app_label)s_inbox_once")]


class InboxMessage(InboxBase):
    class Meta(InboxBase.Meta):
        db_table = "bus_inbox"
