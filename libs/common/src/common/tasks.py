"""Celery from async code, and tasks that always know their tenant.

``async_task_delay(task, *args, **kwargs)`` runs ``task.delay(...)`` in a worker thread through
``sync_to_async``: kombu's publish is blocking I/O, and in eager mode ``.delay()`` would run the task
body (sync ORM) right inside the event loop. Prefer the outbox (``common.bus.outbox_add``) for any
command that must not be lost when the surrounding transaction commits; ``async_task_delay`` is for
fire-and-forget work whose loss a retry or sweep repairs.

``TenantTask`` carries the current tenant in the message headers (``TENANT_HEADER``), restores it
before the body runs and clears it afterwards. A message without a tenant is logged and rejected
(``Reject(requeue=False)``, so it goes to the queue's dead-letter exchange if it has one): a task
body never runs unscoped.
"""

from __future__ import annotations

from typing import Any

import structlog
from asgiref.sync import sync_to_async
from celery import Task
from celery.exceptions import Reject

from common.tenancy import get_current_tenant, tenant_context

TENANT_HEADER = "lendsimple_tenant"
CORRELATION_HEADER = "lendsimple_correlation_id"

log = structlog.get_logger(__name__)


class TenantNotInMessage(Reject):
    """Raised (as a Celery ``Reject``) for a task message that carries no tenant."""


def _header(request: Any, name: str) -> str | None:
    # Protocol 2 merges custom headers into the request context; eager ``apply`` keeps them in
    # ``request.headers``. Accept both, nothing else.
    value = getattr(request, name, None)
    if not value and isinstance(getattr(request, "headers", None), dict):
        value = request.headers.get(name)
    return value or None


class TenantTask(Task):
    abstract = True
    # Money-moving tasks: acknowledge only after the body finished, redeliver if the worker died.
    acks_late = True
    reject_on_worker_lost = True
    # A body that fails with an error nobody handled rejects its message (to the queue's dead-letter exchange:
    # ``<queue>.dlq``) instead of acknowledging it: Celery acknowledges a failed late-ack task by default, which
    # dropped the command — a payment settled and never allocated, with no trace in any queue.
    acks_on_failure = False

    def apply_async(self, args=None, kwargs=None, task_id=None, producer=None, link=None, link_error=None,
                    shadow=None, **options):
        headers = dict(options.pop("headers", None) or {})
        tenant = headers.get(TENANT_HEADER) or get_current_tenant()
        if tenant:
            headers[TENANT_HEADER] = tenant
        from common.logging import get_correlation_id

        correlation_id = get_correlation_id()
        if correlation_id and CORRELATION_HEADER not in headers:
            headers[CORRELATION_HEADER] = correlation_id
        return super().apply_async(args, kwargs, task_id, producer, link, link_error, shadow,
                                   headers=headers, **options)

    def __call__(self, *args, **kwargs):
        tenant = _header(self.request, TENANT_HEADER)
        if not tenant:
            log.error("task.rejected_without_tenant", task=self.name, task_id=self.request.id)
            raise TenantNotInMessage(f"task {self.name} arrived without a tenant; refused", requeue=False)
        from common.logging import bind_context

        with tenant_context(tenant), bind_context(tenant_id=tenant, task=self.name, task_id=self.request.id,
                                                   correlation_id=_header(self.request, CORRELATION_HEADER)):
            return super().__call__(*args, **kwargs)


async def async_task_delay(task: Task, *args: Any, **kwargs: Any):
    """``task.delay(*args, **kwargs)``, safe to await from async code."""
    return await sync_to_async(task.delay, thread_sensitive=False)(*args, **kwargs)


def send_command(app, name: str, *, args=(), kwargs=None, tenant_id: str, correlation_id: str | None = None,
                 task_id: str | None = None, queue: str | None = None):
    """Send a task by name with the tenant headers ``TenantTask`` expects (used by the outbox relay)."""
    headers = {TENANT_HEADER: tenant_id}
    if correlation_id:
        headers[CORRELATION_HEADER] = correlation_id
    options = {"headers": headers}
    if task_id:
        options["task_id"] = task_id
    if queue:
        options["queue"] = queue
    return app.send_task(name, args=list(args), kwargs=kwargs or {}, **options)
