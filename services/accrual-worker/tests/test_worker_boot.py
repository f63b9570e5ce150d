import pytest
from common.tasks import TENANT_HEADER


@pytest.mark.django_db
def test_ping_task_runs_scoped_to_the_tenant_it_was_sent_for():
    # eager apply is allowed in a unit test of a task body
    from ledger.tasks import ping

    assert ping.apply(headers={TENANT_HEADER: "acme"}).result == "acme"
