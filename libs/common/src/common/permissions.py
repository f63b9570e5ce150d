"""Object-level rights (portfolio assignment) with django-guardian.

Admins and services see every object of their tenant. Everyone else sees only the objects they hold a
grant on: the creator is granted view and change, admins assign others. An object without a grant is
answered 404 by the controllers (never 403, never the object).

JWT principals have no local account, so each (tenant, subject) gets a Django user on first use;
the tenant is part of the username, so a grant can never leak across tenants. guardian is sync-only:
the async functions below are one ``sync_to_async`` hop each, as ARCHITECTURE.md §5 prescribes.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import models

from common.auth import Principal
from common.db import run_sync

DEFAULT_PERMS = ("view", "change")


def username_for(tenant: str, subject: str) -> str:
    return f"{tenant}:{subject}"[:150]


def user_for(*, tenant: str, subject: str):
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=username_for(tenant, subject))
    return user


def _codename(obj_or_model, perm: str) -> str:
    meta = obj_or_model._meta
    return f"{meta.app_label}.{perm}_{meta.model_name}"


def grant(obj: models.Model, *, tenant: str, subject: str, perms=DEFAULT_PERMS) -> None:
    """Give ``subject`` of ``tenant`` the object permissions ``perms`` on ``obj`` (sync)."""
    from guardian.shortcuts import assign_perm

    if getattr(obj, "tenant_id", tenant) != tenant:
        raise ValueError("cannot grant an object of another tenant")
    user = user_for(tenant=tenant, subject=subject)
    for perm in perms:
        assign_perm(_codename(obj, perm), user, obj)


def has_object_perm(principal: Principal, obj: models.Model, perm: str = "view") -> bool:
    if getattr(obj, "tenant_id", principal.tenant) != principal.tenant:
        return False
    if principal.sees_all:
        return True
    from guardian.core import ObjectPermissionChecker

    user = user_for(tenant=principal.tenant, subject=principal.subject)
    return ObjectPermissionChecker(user).has_perm(f"{perm}_{obj._meta.model_name}", obj)


def visible(principal: Principal, queryset: models.QuerySet, perm: str = "view") -> models.QuerySet:
    """``queryset`` narrowed to what ``principal`` may ``perm`` (admins/services: unchanged)."""
    if principal.sees_all:
        return queryset
    from guardian.shortcuts import get_objects_for_user

    user = user_for(tenant=principal.tenant, subject=principal.subject)
    return get_objects_for_user(user, _codename(queryset.model, perm), klass=queryset, accept_global_perms=False,
                                with_superuser=False)


async def agrant(obj: models.Model, *, tenant: str, subject: str, perms=DEFAULT_PERMS) -> None:
    await run_sync(grant, obj, tenant=tenant, subject=subject, perms=perms)


async def ahas_object_perm(principal: Principal, obj: models.Model, perm: str = "view") -> bool:
    if principal.sees_all and getattr(obj, "tenant_id", principal.tenant) == principal.tenant:
        return True
    return await run_sync(has_object_perm, principal, obj, perm)


async def avisible(principal: Principal, queryset: models.QuerySet, perm: str = "view") -> models.QuerySet:
    """Async: resolves the guardian subquery once (the returned queryset is lazy and async-usable)."""
    if principal.sees_all:
        return queryset
    return await run_sync(visible, principal, queryset, perm)


GRANT_SQL = """EXISTS (
    SELECT 1 FROM auth_user u
     WHERE u.username = %(grant_username)s AND u.is_active
       AND (u.is_superuser
            OR EXISTS (SELECT 1 FROM guardian_userobjectpermission g
                         JOIN auth_permission ap ON ap.id = g.permission_id
                         JOIN django_content_type ct ON ct.id = ap.content_type_id
                        WHERE g.user_id = u.id AND g.content_type_id = ct.id AND g.object_pk = ({pk})::text
                          AND ct.app_label = %(grant_app)s AND ct.model = %(grant_model)s
                          AND ap.codename = %(grant_codename)s)
            OR EXISTS (SELECT 1 FROM auth_user_groups ug
                         JOIN guardian_groupobjectpermission g ON g.group_id = ug.group_id
                         JOIN auth_permission ap ON ap.id = g.permission_id
                         JOIN django_content_type ct ON ct.id = ap.content_type_id
                        WHERE ug.user_id = u.id AND g.content_type_id = ct.id AND g.object_pk = ({pk})::text
                          AND ct.app_label = %(grant_app)s AND ct.model = %(grant_model)s
                          AND ap.codename = %(grant_codename)s)))"""


def grant_sql(principal: Principal, model: type[models.Model], pk: str, perm: str = "view") -> tuple[str, dict]:
    """For a raw SQL read (``common.adb``): a condition true when ``principal`` may ``perm`` the row whose
    primary key is the SQL expression ``pk`` — what ``has_object_perm`` decides (guardian's user and group
    object permissions, active users, superusers), evaluated in the same statement instead of two more
    queries. Admins and services: ``TRUE``. The tenant is the statement's own ``%(tenant)s`` condition."""
    if principal.sees_all:
        return "TRUE", {}
    meta = model._meta
    return GRANT_SQL.format(pk=pk), {
        "grant_username": username_for(principal.tenant, principal.subject), "grant_app": meta.app_label,
        "grant_model": meta.model_name, "grant_codename": f"{perm}_{meta.model_name}"}
