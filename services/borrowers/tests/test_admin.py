"""Django admin: borrowers of every tenant, tenant visible, searchable by name and email, read-only."""

import pytest
from django.contrib.auth import get_user_model

from tests.factories import make_borrower


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_admin_lists_every_tenant_and_searches_by_name_and_email(staff_client):
    # given borrowers in two tenants
    make_borrower(tenant="acme", first_name="Grace", last_name="Hopper", email="grace@navy.mil")
    make_borrower(tenant="globex", first_name="Ada", last_name="Lovelace", email="ada@analytical.org")
    # when the admin opens the list, then both tenants' borrowers show, with their tenant
    page = staff_client.get("/admin/borrowers/borrower/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Hopper" in html and "Lovelace" in html and "acme" in html and "globex" in html
    # when searching by last name and by email, then only the match shows
    by_name = staff_client.get("/admin/borrowers/borrower/", {"q": "hopper"}).content.decode()
    assert "Hopper" in by_name and "Lovelace" not in by_name
    by_email = staff_client.get("/admin/borrowers/borrower/", {"q": "analytical.org"}).content.decode()
    assert "Lovelace" in by_email and "Hopper" not in by_email


@pytest.mark.django_db
def test_admin_shows_a_borrower_but_does_not_change_it(staff_client):
    borrower = make_borrower(tenant="acme", last_name="Hopper")
    url = f"/admin/borrowers/borrower/{borrower.id}/change/"
    assert staff_client.get(url).status_code == 200
    staff_client.post(url, {"last_name": "Changed"})
    borrower.refresh_from_db()
    assert borrower.last_name == "Hopper"
    assert staff_client.get("/admin/borrowers/borrower/add/").status_code == 403
