"""``manage.py restate_non_accrual [--apply] [--tenant T]``: after migration 0006, accounts whose history holds a
non-accrual entry of the earlier rule (which forgave the interest) are rebuilt under the current one."""

from __future__ import annotations

import json

from common.finance._util import fmt_money
from common.tenancy import tenant_context
from django.core.management.base import BaseCommand
from django.db import transaction

from ledger import engine, events, journal, replay
from ledger.models import Account, NonAccrual


class _DryRun(Exception):
    """Rolls a dry run's transaction back."""


class Command(BaseCommand):
    help = ("Rebuild, under the current non-accrual rule (interest kept owed, recognised on a cash basis), every "
            "open account whose history holds a non-accrual entry of the earlier rule (it forgave the interest). "
            "Each account: one reprocess entry with the difference, its balances reported to the loans service. "
            "Without --apply nothing is written: each account's change is printed and rolled back. Accounts no "
            "longer open are listed and left as they are. Run with the ledger worker stopped.")

    def add_arguments(self, parser):
        parser.add_argument("--apply", action="store_true", help="write the restatement (default: a dry run)")
        parser.add_argument("--tenant", default=None, help="only this tenant's accounts")

    def handle(self, *args, apply: bool, tenant: str | None, **options):
        legacy = NonAccrual.objects.filter(legacy=True, reversed=False)
        candidates = Account.all_tenants.filter(id__in=legacy.values("account_id")).order_by("tenant_id", "id")
        if tenant:
            candidates = candidates.filter(tenant_id=tenant)
        restated = skipped = 0
        for account_id, tenant_id, loan_id, status in candidates.values_list("id", "tenant_id", "loan_id", "status"):
            if status != engine.OPEN:
                skipped += 1
                self.stdout.write(json.dumps({"tenant": tenant_id, "loan_id": str(loan_id), "status": status,
                                              "action": "left as it is (not open)"}))
                continue
            report = self._restate(account_id, tenant_id, apply=apply)
            restated += 1
            self.stdout.write(json.dumps(report))
        verb = "restated" if apply else "would be restated (dry run: nothing written; --apply writes it)"
        self.stderr.write(f"{restated} account(s) {verb}; {skipped} not open, left as they are")

    def _restate(self, account_id: int, tenant_id: str, *, apply: bool) -> dict:
        report: dict = {}
        try:
            with tenant_context(tenant_id), transaction.atomic():
                account = Account.objects.select_for_update().get(id=account_id)
                before = events.balances_dict(account)
                difference = replay.restate(account, cause="restatement")
                places = account.places
                report = {"tenant": tenant_id, "loan_id": str(account.loan_id), "before": before,
                          "after": events.balances_dict(account),
                          "interest_charged": fmt_money(-difference.get(journal.II, 0) - difference.get(journal.SIC, 0),
                                                        places),
                          "non_accrual": account.non_accrual, "action": "restated" if apply else "dry run"}
                if not apply:
                    raise _DryRun
        except _DryRun:
            pass
        return report
