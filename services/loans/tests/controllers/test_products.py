import pytest
from asgiref.sync import sync_to_async
from common.testing import bearer
from loans.models import Product

from tests.api import API, count_rows, create_product
from tests.conftest import product_body

pytestmark = pytest.mark.django_db(transaction=True)


async def test_admin_creates_a_product_and_every_role_reads_it(asgi_client, admin, tenant):
    # given an admin and a viewer of the same tenant
    viewer = bearer(tenant, "viewer", sub="vera")
    async with asgi_client as client:
        # when the admin creates a product with all the optional rules
        product = await create_product(client, admin, nsf_fee="25.00", four_eyes=True, non_accrual_after_days=60,
                                       origination_fee={"type": "percent", "value": "1.5"}, arrears_tolerance="1.00")
        default = await create_product(client, admin)
        one = await client.get(f"{API}/products/{product['id']}", headers=viewer)
        listed = await client.get(f"{API}/products", headers=viewer)

    # then it is stored as sent and readable by a viewer
    assert product["annual_rate"] == "0.12" and product["rounding"] == {"mode": "half_even", "places": 2}
    assert product["origination_fee"] == {"type": "percent", "value": "1.5"}
    assert product["late_fee"] == {"amount": "0.00", "grace_days": 10}
    assert product["nsf_fee"] == "25.00" and product["four_eyes"] is True and product["non_accrual_after_days"] == 60
    assert (product["arrears_tolerance"], default["arrears_tolerance"]) == ("1.00", "0.00")
    assert product["allocation_order"] == ["fees", "interest", "principal"]
    assert one.status_code == 200 and one.json() == product
    assert product in listed.json()["items"] and listed.json()["count"] == 2


@pytest.mark.parametrize("overrides", [
    {"annual_rate": "1.5"},
    {"annual_rate": "-0.1"},
    {"annual_rate": 0.12},
    {"annual_rate": "abc"},
    {"currency": "XXX"},
    {"term_min": 12, "term_max": 6},
    {"term_min": 0},
    {"frequency": "daily"},
    {"interest_method": "compound"},
    {"amortization": "balloon"},
    {"day_count": "actual/366"},
    {"rounding": {"mode": "half_down", "places": 2}},
    {"rounding": {"mode": "half_even", "places": 5}},
    {"rounding": {"mode": "half_even", "places": 3}},
    {"rounding": {"mode": "half_even", "places": 0}},        # USD: fewer places than the currency's minor unit
    {"allocation_order": ["fees", "fees", "principal"]},
    {"allocation_order": ["fees", "interest"]},
    {"allocation_order": ["interest", "principal", "fees", "fees"]},
    {"origination_fee": {"type": "tiered", "value": "1"}},
    {"origination_fee": {"type": "percent", "value": "150"}},
    {"origination_fee": {"type": "flat", "value": "1.005"}},
    {"late_fee": {"amount": "-5.00", "grace_days": 10}},
    {"late_fee": {"amount": "5.00", "grace_days": -1}},
    {"arrears_tolerance": "-1.00"},
    {"arrears_tolerance": "1.005"},
    {"default_after_days": 0},
    {"name": ""},
])
async def test_an_invalid_product_is_a_422_and_nothing_is_stored(asgi_client, admin, tenant, overrides):
    # given a product body with one invalid field
    async with asgi_client as client:
        # when it is posted
        response = await client.post(f"{API}/products", json=product_body(**overrides), headers=admin)

    # then it is refused as problem+json and no product exists
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"]
    assert await sync_to_async(count_rows)(Product, tenant) == 0


async def test_a_missing_field_is_a_422(asgi_client, admin, tenant):
    body = product_body()
    del body["allocation_order"]
    async with asgi_client as client:
        response = await client.post(f"{API}/products", json=body, headers=admin)
    assert response.status_code == 422
    assert await sync_to_async(count_rows)(Product, tenant) == 0


async def test_only_admins_configure_products(asgi_client, officer, tenant):
    # given a loan officer, when they try to create a product, then 403 and nothing stored
    async with asgi_client as client:
        response = await client.post(f"{API}/products", json=product_body(), headers=officer)
        anonymous = await client.post(f"{API}/products", json=product_body())
    assert response.status_code == 403
    assert anonymous.status_code == 401
    assert await sync_to_async(count_rows)(Product, tenant) == 0


async def test_another_tenants_product_is_invisible(asgi_client, admin):
    # given a product of this tenant
    other = bearer("other-tenant-products", "admin")
    async with asgi_client as client:
        product = await create_product(client, admin)
        # when another tenant reads it or lists products
        one = await client.get(f"{API}/products/{product['id']}", headers=other)
        listed = await client.get(f"{API}/products", headers=other)
    # then 404 and an empty list
    assert one.status_code == 404
    assert product["id"] not in [p["id"] for p in listed.json()["items"]]
