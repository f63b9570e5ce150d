"""Finance engine benchmark (a script, not a test).

    uv run python bench/finance_bench.py

Prints schedules/s for a 360-month loan and accrual computations/s (medians of several runs) and writes
bench/results/finance.json.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from common.finance import LoanTerms, accrue, daily_accruals, generate_schedule

RUNS = 7
RESULTS = Path(__file__).parent / "results" / "finance.json"


def _rate(fn, *, iterations: int) -> float:
    """Median operations per second over RUNS runs of `iterations` calls."""
    for _ in range(max(1, iterations // 10)):  # warm-up
        fn()
    rates = []
    for _ in range(RUNS):
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        rates.append(iterations / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> dict:
    terms = {
        day_count: LoanTerms(
            principal=Decimal("250000.00"), annual_rate=Decimal("0.0675"), term=360, frequency="monthly",
            interest_method="declining_balance", amortization="equal_installments", day_count=day_count,
            rounding_mode="half_even", rounding_places=2, disbursement_date=date(2024, 1, 15),
        )
        for day_count in ("30/360", "actual/365", "actual/actual")
    }
    since = date(2024, 1, 15)
    days = [since + timedelta(days=k) for k in range(1, 32)]

    def one_accrual(state={"i": 0}):  # noqa: B006 - a cheap rotating counter
        state["i"] = (state["i"] + 1) % len(days)
        accrue(balance=Decimal("250000.00"), annual_rate=Decimal("0.0675"), day_count="actual/365", since=since,
               through=days[state["i"]], already_posted=Decimal("0.00"), places=2, mode="half_even")

    results = {
        "schedules_per_s_360_months": {dc: round(_rate(lambda t=t: generate_schedule(t), iterations=20), 1)
                                       for dc, t in terms.items()},
        "accruals_per_s": round(_rate(one_accrual, iterations=5000), 1),
        "daily_accrual_postings_per_s_31_day_period": round(
            31 * _rate(lambda: daily_accruals(balance=Decimal("250000.00"), annual_rate=Decimal("0.0675"),
                                              day_count="30/360", since=since, through=since + timedelta(days=31),
                                              places=2, mode="half_even"), iterations=100), 1),
        "runs": RUNS,
        "statistic": "median",
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for dc, rate in results["schedules_per_s_360_months"].items():
        print(f"schedule, 360 months, {dc:13}: {rate:10.1f} schedules/s")
    print(f"accrue() calls                     : {results['accruals_per_s']:10.1f} accruals/s")
    print(f"daily_accruals() postings          : {results['daily_accrual_postings_per_s_31_day_period']:10.1f} postings/s")
    plot(results)
    print(f"written to {RESULTS} and finance.png")
    return results


def plot(results: dict) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import benchlib

    plt = benchlib.pyplot()
    labels = [f"schedule 360 m, {dc}" for dc in results["schedules_per_s_360_months"]]
    labels += ["accrue() calls", "daily_accruals() postings"]
    values = [*results["schedules_per_s_360_months"].values(), results["accruals_per_s"],
              results["daily_accrual_postings_per_s_31_day_period"]]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    bars = ax.barh(labels, values, color="#48c")
    ax.bar_label(bars, labels=[f"{v:,.0f}/s" for v in values], padding=3, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("operations per second (median, log scale, one core)")
    ax.set_title("Finance engine (pure Python)")
    fig.tight_layout()
    fig.savefig(benchlib.plot_path("finance"), dpi=110)


if __name__ == "__main__":
    main()
