"""Tenant-scoped models (see ``common.tenancy``)."""

from __future__ import annotations

from django.db import models

from common.tenancy import require_tenant


class TenantManager(models.Manager):
    """Default manager of tenant-owned models: every query is filtered by the current tenant."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(tenant_id=require_tenant())

    def create(self, **kwargs):
        kwargs.setdefault("tenant_id", require_tenant())
        return super().create(**kwargs)

    async def acreate(self, **kwargs):
        kwargs.setdefault("tenant_id", require_tenant())
        return await super().acreate(**kwargs)


class TenantModel(models.Model):
    """Abstract base of every tenant-owned table."""

    tenant_id = models.CharField(max_length=64, db_index=True, editable=False)

    objects = TenantManager()
    all_tenants = models.Manager()

    class Meta:
        abstract = True
        # Related-object access and Django internals use the base manager; keep it unscoped so
        # that following a foreign key never raises, while every entry-point query stays scoped.
        base_manager_name = "all_tenants"

    def save(self, *args, **kwargs):
        if not self.tenant_id:
            self.tenant_id = require_tenant()
        super().save(*args, **kwargs)

    async def asave(self, *args, **kwargs):
        if not self.tenant_id:
            self.tenant_id = require_tenant()
        await super().asave(*args, **kwargs)
