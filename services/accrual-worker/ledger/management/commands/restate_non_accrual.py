"""``manage.py restate_non_accrual [--apply] [--tenant T] [--loan L ...]``: after migration 0006, accounts whose
history holds a non-accrual entry of the earlier rule (which forgave the interest) are rebuilt under the current
one."""

from __future__ import annotations

import json
from decimal import Decimal

from common.finance._util import fmt_money
from common.tenancy import tenant_context
from django.core.management.base import BaseCommand
from django.db import transaction

from ledger import engine, events, journal, replay
from ledger.models import Account, NonAccrual


class _RollBack(Exception):
    """Rolls a dry run's (or a skipped account's) transaction back."""


class Command(BaseCommand):
    help = ("Rebuild, under the current non-accrual rule (interest kept owed, recognised on a cash basis), every "
            "open account whose history holds a live non-accrual entry of the earlier rule (it forgave the "
            "interest). Each account: its own transaction, one reprocess entry with the difference (cause "
            "'restatement'), its balances reported to the loans service. Without --apply nothing is written: each "
            "account's change is printed and rolled back. Accounts no longer open are listed and left as they "
            "are (a later replay of one, a back-dated or returned payment, restates it). Run with the ledger "
            "worker stopped; if it stops half-way, run it again: restated accounts are not legacy any more.")

    def add_arguments(self, parser):
        parser.add_argument("--apply", action="store_true", help="write the restatement (default: a dry run)")
        parser.add_argument("--tenant", default=None, help="only this tenant's accounts")
        parser.add_argument("--loan", action="append", default=None, help="only this loan (repeatable)")

    def handle(self, *args, apply: bool, tenant: str | None, loan: list[str] | None, **options):
        legacy = NonAccrual.objects.filter(legacy=True, reversed=False)
        candidates = Account.all_tenants.filter(id__in=legacy.values("account_id")).order_by("tenant_id", "id")
        if tenant:
            candidates = candidates.filter(tenant_id=tenant)
        if loan:
            candidates = candidates.filter(loan_id__in=loan)
        restated, skipped, charged = 0, 0, Decimal(0)
        for account_id, tenant_id in candidates.values_list("id", "tenant_id"):
            report = self._restate(account_id, tenant_id, apply=apply)
            if report["action"] == "left as it is (not open)":
                skipped += 1
            else:
                restated += 1
                charged += Decimal(report["interest_charged"])
            self.stdout.write(json.dumps(report))
        verb = "restated" if apply else "would be restated (dry run: nothing written; --apply writes it)"
        self.stderr.write(f"{restated} account(s) {verb}, interest charged again {charged}; "
                          f"{skipped} not open, left as they are")

    def _restate(self, account_id: int, tenant_id: str, *, apply: bool) -> dict:
        report: dict = {}
        try:
            with tenant_context(tenant_id), transaction.atomic():
                account = Account.objects.select_for_update().get(id=account_id)
                report = {"tenant": tenant_id, "loan_id": str(account.loan_id), "status": account.status}
                if account.status != engine.OPEN:           # read under the lock
                    report["action"] = "left as it is (not open)"
                    raise _RollBack
                before = events.balances_dict(account)
                difference = replay.restate(account, cause="restatement")
                report.update({
                    "before": before, "after": events.balances_dict(account),
                    "interest_charged": fmt_money(-difference.get(journal.II, 0) - difference.get(journal.SIC, 0),
                                                  account.places),
                    "non_accrual": account.non_accrual, "action": "restated" if apply else "dry run"})
                if not apply:
                    raise _RollBack
        except _RollBack:
            pass
        return report
