"""common.adb (async-native, tenant-scoped, read-only reads) and permissions.grant_sql (guardian's
object-permission decision inside a statement)."""

import psycopg
import pytest
from asgiref.sync import sync_to_async
from common import adb
from common.auth import Principal
from common.permissions import grant, grant_sql, has_object_perm, user_for
from common.tenancy import TenantNotSet, tenant_context
from django.contrib.auth.models import Group
from testproject.testapp.models import Widget

pytestmark = pytest.mark.django_db(transaction=True)

WIDGET = "SELECT id, name, tenant_id FROM testapp_widget WHERE tenant_id = %(tenant)s AND id = %(id)s"


@pytest.fixture
async def closing_pool():
    yield
    await adb.close_pools()


def make_widget(tenant: str, name: str) -> Widget:
    with tenant_context(tenant):
        return Widget.objects.create(name=name)


async def test_reads_the_row_of_the_current_tenant_only(closing_pool):
    ours = await sync_to_async(make_widget)("acme", "ours")
    theirs = await sync_to_async(make_widget)("globex", "theirs")
    with tenant_context("acme"):
        assert await adb.fetch_one(WIDGET, {"id": ours.id}) == {"id": ours.id, "name": "ours", "tenant_id": "acme"}
        assert await adb.fetch_one(WIDGET, {"id": theirs.id}) is None
        assert [r["name"] for r in await adb.fetch_all(
            "SELECT name FROM testapp_widget WHERE tenant_id = %(tenant)s ORDER BY id")] == ["ours"]


async def test_a_read_without_a_tenant_is_refused(closing_pool):
    with pytest.raises(TenantNotSet):
        await adb.fetch_one(WIDGET, {"id": 1})
    with tenant_context("acme"), pytest.raises(ValueError, match="tenant"):
        await adb.fetch_one("SELECT id FROM testapp_widget WHERE id = %(id)s", {"id": 1})


async def test_pooled_connections_are_read_only(closing_pool):
    with tenant_context("acme"), pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        await adb.fetch_one("INSERT INTO testapp_widget (tenant_id, name) VALUES (%(tenant)s, 'x') RETURNING id")
    assert await sync_to_async(Widget.all_tenants.count)() == 0


def _scenarios():
    """(label, principal, widget, perm) covering what has_object_perm decides."""
    mine = make_widget("acme", "mine")
    other = make_widget("acme", "other")
    grouped = make_widget("acme", "grouped")
    foreign = make_widget("globex", "foreign")
    grant(mine, tenant="acme", subject="alice", perms=("view",))
    grant(foreign, tenant="globex", subject="alice", perms=("view", "change"))
    group = Group.objects.create(name="acme:collections")
    user_for(tenant="acme", subject="bob").groups.add(group)
    from guardian.shortcuts import assign_perm

    assign_perm("testapp.view_widget", group, grouped)
    carol = user_for(tenant="acme", subject="carol")
    grant(mine, tenant="acme", subject="carol")
    carol.is_active = False
    carol.save()
    root = user_for(tenant="acme", subject="root")
    root.is_superuser = True
    root.save()
    alice = Principal(tenant="acme", subject="alice", roles=frozenset({"viewer"}))
    bob = Principal(tenant="acme", subject="bob", roles=frozenset({"viewer"}))
    return [
        ("user grant", alice, mine, "view"), ("no grant", alice, other, "view"),
        ("granted view, asks change", alice, mine, "change"), ("group grant", bob, grouped, "view"),
        ("group grant, other object", bob, mine, "view"),
        ("inactive user", Principal(tenant="acme", subject="carol", roles=frozenset({"viewer"})), mine, "view"),
        ("superuser", Principal(tenant="acme", subject="root", roles=frozenset({"viewer"})), other, "view"),
        ("unknown subject", Principal(tenant="acme", subject="nobody", roles=frozenset({"viewer"})), mine, "view"),
        ("admin", Principal(tenant="acme", subject="ann", roles=frozenset({"admin"})), other, "change"),
        ("another tenant's grant", alice, foreign, "view"),
    ]


async def test_grant_sql_decides_as_guardian_does(closing_pool):
    scenarios = await sync_to_async(_scenarios)()
    decided = []
    for label, principal, widget, perm in scenarios:
        expected = await sync_to_async(has_object_perm)(principal, widget, perm)
        condition, params = grant_sql(principal, Widget, "w.id", perm)
        with tenant_context(principal.tenant):
            row = await adb.fetch_one(f"SELECT {condition} AS ok FROM testapp_widget w "
                                      "WHERE w.tenant_id = %(tenant)s AND w.id = %(id)s", {"id": widget.id, **params})
        got = bool(row and row["ok"])
        assert got == expected, label
        decided.append(got)
    assert decided == [True, False, False, True, False, False, True, False, True, False]
