import json
import uuid
from pathlib import Path

import pytest
from common.testing import bearer

from tests.borrowers_standin import BorrowersStandIn, free_port

pytest_plugins = ["common.pytest_plugin"]

ORACLES = json.loads((Path(__file__).parent / "data" / "schedules.json").read_text())


@pytest.fixture(scope="session")
def borrowers_service():
    standin = BorrowersStandIn().start()
    yield standin
    standin.stop()


@pytest.fixture(autouse=True)
def _borrowers_url(settings, borrowers_service):
    borrowers_service.failing = False
    settings.LENDSIMPLE_BORROWERS_URL = borrowers_service.url


@pytest.fixture
def borrowers_down(settings):
    settings.LENDSIMPLE_BORROWERS_URL = f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def tenant():
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def admin(tenant):
    return bearer(tenant, "admin", sub="alice-admin")


@pytest.fixture
def officer(tenant):
    return bearer(tenant, "loan_officer", sub="oscar-officer")


def product_body(**overrides) -> dict:
    """Oracle A's terms as a product (the request fields of the oracle plus the product's rules)."""
    request = ORACLES[0]["request"]
    body = {"name": "Personal 12%", "currency": "USD", "annual_rate": request["annual_rate"], "term_min": 1,
            "term_max": 360, "frequency": "monthly", "interest_method": request["interest_method"],
            "amortization": request["amortization"], "day_count": request["day_count"],
            "rounding": request["rounding"], "origination_fee": {"type": "flat", "value": "0.00"},
            "late_fee": {"amount": "0.00", "grace_days": 10}, "default_after_days": 90,
            "allocation_order": ["fees", "interest", "principal"]}
    body.update(overrides)
    return body


@pytest.fixture
def borrower_id(borrowers_service, tenant):
    bid = uuid.uuid4()
    borrowers_service.add(tenant, bid)
    return str(bid)
