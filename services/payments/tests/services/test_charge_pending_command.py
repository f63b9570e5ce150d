"""``manage.py charge_pending --once``: the sweep process charges what the request path could not."""

import asyncio
import os
import sys

import pytest
from common.testing import await_until
from django.db import connection

from tests.conftest import SERVICE_DIR
from tests.factories import payment_request, payment_row, post_payment
from tests.test_processor_flow import _make_due

pytestmark = pytest.mark.django_db(transaction=True)


async def test_one_pass_charges_a_payment_left_pending_by_an_outage(client, loans_api, processor, payments_http,
                                                                    settings, unreachable_url):
    # given a payment recorded while the processor was down
    settings.LENDSIMPLE_PROCESSOR_URL = unreachable_url
    created = (await post_payment(client, "acme", payment_request(loans_api.add("acme")))).json()
    assert (await payment_row(created["id"])).processor_reference == ""
    # when the processor is back and the command runs once, as its own process
    settings.LENDSIMPLE_PROCESSOR_URL = processor.url
    await _make_due(created["id"])
    env = {**os.environ, "LENDSIMPLE_DB_NAME": connection.settings_dict["NAME"],
           "LENDSIMPLE_PROCESSOR_URL": processor.url, "LENDSIMPLE_PAYMENTS_URL": payments_http}
    proc = await asyncio.create_subprocess_exec(sys.executable, "manage.py", "charge_pending", "--once",
                                                cwd=SERVICE_DIR, env=env)
    assert await asyncio.wait_for(proc.wait(), timeout=60) == 0
    # then the payment is charged and settles

    async def settled():
        return (await payment_row(created["id"])).status == "settled"

    await await_until(settled, timeout=10, message="payment settled")
    assert len(processor.charges(created["id"])) == 1
