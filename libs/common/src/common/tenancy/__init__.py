"""The current tenant, and models that are scoped to it.

The tenant lives in a contextvar: set from the authenticated request (``common.auth``), restored by
``TenantTask`` before a task body runs, and by the event consumer from the envelope. asgiref copies
contextvars into ``sync_to_async`` threads, so sync code called from async code sees the same tenant.

``TenantModel.objects`` filters by the current tenant and fails closed: with no tenant set it raises
``TenantNotSet`` instead of returning every tenant's rows. ``TenantModel.all_tenants`` is the explicit,
rare, unscoped door (migrations, admin, cross-tenant maintenance jobs).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

_current_tenant: contextvars.ContextVar[str | None] = contextvars.ContextVar("lendsimple_tenant", default=None)


class TenantNotSet(RuntimeError):
    """A tenant-scoped query ran with no tenant in context."""


def get_current_tenant() -> str | None:
    return _current_tenant.get()


def require_tenant() -> str:
    tenant = _current_tenant.get()
    if not tenant:
        raise TenantNotSet("no tenant is set for this context; refusing an unscoped query")
    return tenant


def set_current_tenant(tenant_id: str | None) -> contextvars.Token:
    return _current_tenant.set(tenant_id or None)


def reset_current_tenant(token: contextvars.Token) -> None:
    _current_tenant.reset(token)


@contextlib.contextmanager
def tenant_context(tenant_id: str | None) -> Iterator[None]:
    """Run a block as ``tenant_id`` (``None`` clears it); the previous tenant is restored afterwards."""
    token = _current_tenant.set(tenant_id or None)
    try:
        yield
    finally:
        _current_tenant.reset(token)



def __getattr__(name: str):
    # TenantModel and TenantManager need Django's app registry; import them lazily so that the
    # contextvar part is usable before django.setup() (Celery, logging configuration).
    if name in {"TenantModel", "TenantManager"}:
        from common.tenancy import models

        return getattr(models, name)
    raise AttributeError(name)
