"""The short chaos run of `make test` (the full one is `make chaos`): 500 payments over 50 loans while the
worker, relays and consumers are SIGKILLed 5 times and every broker connection is dropped once."""

from __future__ import annotations

from pathlib import Path

import pytest
from chaos import run_chaos


@pytest.mark.chaos
def test_payments_survive_kills_and_a_broker_drop_exactly_once(stack):
    # given the running stack and a seeded fault schedule
    # when 500 payments are posted at a steady rate while the faults happen
    report = run_chaos(stack, payments=500, loans=50, kills=5, drops=1, seed=11, rate=6, quiesce_timeout=150)
    figures = "\n".join(report.lines())
    print(figures)
    (Path(__file__).resolve().parents[2] / ".run" / "chaos-short.txt").write_text(figures + "\n")
    # then the system went quiet, every accepted payment was allocated exactly once, money adds up,
    # every journal entry balances, the loans' projections equal the ledger and no dead letter is left
    assert report.kills == 5 and report.drops == 1
    assert not report.rejected, report.rejected[:5]
    assert report.quiescent, report.leftovers
    assert (report.lost, report.duplicated) == (0, 0)
    assert report.statuses.get("allocated") == report.accepted == 500
    assert report.sum_payments == report.sum_allocations == report.sum_allocation_parts
    assert report.unbalanced_entries == 0
    assert not report.projection_mismatches, report.projection_mismatches[:5]
    assert not any(report.dead_letters.values()), report.dead_letter_reasons
    assert not report.crashed, f"processes that exited by themselves: {report.crashed}"
    assert not stack.dead()
