"""Payment pipeline benchmark (a script, not a test).

    uv run python bench/payments_bench.py [--rates 10,20,25,50,100,150,200,300] [--duration 8] [--loans 60]

Starts the whole system as `make run` does (scripts/stack.py ``Stack``) on free ports, with its own databases
(lendsimple_bench_*) and RabbitMQ vhost (lendsimple_bench), creates active loans through the public API, then
for each rate offers payments open-loop (a POST every 1/rate s, whether or not earlier ones finished) for
--duration seconds. A payment's latency is from its POST being sent to ``allocated`` being visible: a poller
reads the payments database (the row GET /payments/{id} returns) every 20 ms for the payments in flight;
a sample is cross-checked on GET /payments/{id}. Per rate: offered vs sustained throughput (allocated per
second over the window in which they completed), p50/p95/p99 and the CPU seconds of every process of the
stack (from /proc) and of PostgreSQL, also per allocated payment (the CPU budget: what the cores can carry).
Writes bench/results/payments.json and payments.png.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402

VHOST = DB_PREFIX = "lendsimple_bench"
TENANT = "bench-payments"


def ensure_vhost() -> None:
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", VHOST], capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", VHOST], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*"], check=True,
                   capture_output=True)


def start_stack(api_workers: int, pool_max: int):
    from dbs import drop_databases
    from stack import SERVICES, Stack, free_ports

    ensure_vhost()
    ports = free_ports()
    log_dir = ROOT / ".run" / "bench-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("*.log"):
        old.unlink()
    # the APIs' Django psycopg pool, and only theirs, as make run sets it (scripts/stack.py api_pool_max)
    stack = Stack(ports=ports, db_prefix=DB_PREFIX, api_workers=api_workers, log_dir=log_dir, echo=False,
                  env={"LENDSIMPLE_BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{VHOST}"}, api_pool_max=pool_max)
    drop_databases([stack.db_name(s) for s in SERVICES])
    stack.prepare()
    try:
        stack.start()
        stack.wait_ready(timeout=180)
    except BaseException:
        stack.stop()            # a process that failed to start must not leave the others running
        raise
    return stack


async def make_loans(stack, client, count: int) -> list[str]:
    today = date.today()
    borrower = await client.post(f"{stack.url('borrowers')}/api/v1/borrowers", json={
        "first_name": "Ada", "last_name": "Lovelace", "email": f"{uuid.uuid4().hex[:10]}@example.com"})
    assert borrower.status_code == 201, borrower.text
    product = await client.post(f"{stack.url('loans')}/api/v1/products", json={
        "name": "bench", "currency": "USD", "annual_rate": "0.12", "term_min": 1, "term_max": 360,
        "frequency": "monthly", "interest_method": "declining_balance", "amortization": "equal_installments",
        "day_count": "actual/365", "rounding": {"mode": "half_even", "places": 2},
        "origination_fee": {"type": "flat", "value": "0.00"}, "late_fee": {"amount": "0.00", "grace_days": 10},
        "default_after_days": 90, "allocation_order": ["fees", "interest", "principal"]})
    assert product.status_code == 201, product.text

    async def post(url: str, body: dict):
        for attempt in range(6):            # setup only: a shared server may briefly refuse connections
            r = await client.post(url, json=body)
            if r.status_code < 500:
                return r
            await asyncio.sleep(0.5 * (attempt + 1))
        return r

    async def one() -> str:
        loan = await post(f"{stack.url('loans')}/api/v1/loans", {
            "borrower_id": borrower.json()["id"], "product_id": product.json()["id"], "principal": "900000.00",
            "term": 360})
        assert loan.status_code == 201, loan.text
        loan_id = loan.json()["id"]
        r = await post(f"{stack.url('loans')}/api/v1/loans/{loan_id}/approve", {})
        assert r.status_code == 200, r.text
        r = await post(f"{stack.url('loans')}/api/v1/loans/{loan_id}/disburse", {
            "disbursement_date": (today - timedelta(days=5)).isoformat(),
            "first_payment_date": (today + timedelta(days=25)).isoformat()})
        assert r.status_code == 200 and r.json()["status"] == "active", r.text
        return loan_id

    loan_ids = []
    for _ in range(0, count, 3):
        loan_ids += await asyncio.gather(*(one() for _ in range(3)))
    # the ledger opens the accounts from loan.disbursed: wait until a payment can be allocated on each
    return loan_ids[:count]


async def run_rate(stack, client, pool, loan_ids, rate: float, duration: float, timeout: float) -> dict:
    sent: dict[str, float] = {}
    done: dict[str, float] = {}
    errors: list[str] = []
    post_latency: list[float] = []
    url = f"{stack.url('payments')}/api/v1/payments"
    today = date.today().isoformat()

    async def pay(i: int) -> None:
        body = {"loan_id": loan_ids[i % len(loan_ids)], "amount": "5.00", "currency": "USD", "method": "ach",
                "value_date": today}
        t0 = time.monotonic()
        try:
            r = await client.post(url, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
        except Exception as exc:  # noqa: BLE001 - a refused or timed-out POST is a failed offer
            errors.append(type(exc).__name__)
            return
        post_latency.append(time.monotonic() - t0)
        if r.status_code != 201:
            errors.append(str(r.status_code))
            return
        sent[r.json()["id"]] = t0

    stop = asyncio.Event()

    async def poller() -> None:
        async with pool.connection() as conn:
            while not stop.is_set() or (set(sent) - set(done)):
                pending = [uuid.UUID(k) for k in sent if k not in done]
                if pending:
                    cur = await conn.execute("SELECT id::text, status FROM payments_payment WHERE id = ANY(%s) "
                                             "AND status IN ('allocated', 'failed', 'returned')", [pending])
                    now = time.monotonic()
                    for pid, status in await cur.fetchall():
                        done[pid] = now
                        if status != "allocated":
                            errors.append(status)
                if stop.is_set() and time.monotonic() > stop_at + timeout:
                    break
                await asyncio.sleep(0.02)

    cpu_before = {p.name: benchlib.cpu_seconds(p.popen.pid) for p in stack.procs}
    pg_before = benchlib.server_cpu_seconds("postgres")
    mq_before = benchlib.server_cpu_seconds("beam.smp")
    me_before, host_before = sum(os.times()[:2]), benchlib.host_cpu_seconds()
    started = time.monotonic()
    poll = asyncio.create_task(poller())
    tasks = []
    n = int(rate * duration)
    for i in range(n):
        await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
        tasks.append(asyncio.create_task(pay(i)))
    await asyncio.gather(*tasks)
    stop_at = time.monotonic()
    stop.set()
    await poll
    elapsed_all = time.monotonic() - started
    cpu = {name: round(benchlib.cpu_seconds(p.popen.pid) - cpu_before[name], 2)
           for name, p in ((p.name, p) for p in stack.procs)}
    cpu["postgresql (all)"] = round(benchlib.server_cpu_seconds("postgres") - pg_before, 2)
    cpu["rabbitmq"] = round(benchlib.server_cpu_seconds("beam.smp") - mq_before, 2)
    # Not in the budget: this load generator and its poller; the host's busy share tells whether the
    # cores were saturated (1.0 = both busy all the time).
    load_generator_s = round(sum(os.times()[:2]) - me_before, 2)
    host_after = benchlib.host_cpu_seconds()
    host_busy = round((host_after[0] - host_before[0]) / max(1e-9, host_after[1] - host_before[1]), 2)

    # cross-check a sample on the public API
    sample = list(done)[:5]
    for pid in sample:
        r = await client.get(f"{url}/{pid}")
        assert r.status_code == 200 and r.json()["status"] == "allocated", r.text

    lat = [done[k] - sent[k] for k in done if k in sent]
    # The CPU budget: ms of CPU per allocated payment in each process (PostgreSQL and RabbitMQ included,
    # this load generator and its poller not), and the rate these cores could carry at that cost.
    per_payment = {name: round(seconds * 1000 / len(lat), 2) for name, seconds in cpu.items() if lat and seconds}
    per_payment_total = round(sum(per_payment.values()), 1)
    finished = sorted(done.values())
    window = (finished[-1] - started) if finished else float("nan")
    return {
        "offered_per_s": rate, "offered": n, "accepted": len(sent), "allocated": len(lat),
        "not_allocated_within_timeout": len(sent) - len(done), "errors": len(errors),
        "error_kinds": sorted(set(errors))[:10],
        "sustained_per_s": round(len(lat) / window, 1) if finished else 0.0,
        "p50_s": round(benchlib.percentile(lat, 50), 3), "p95_s": round(benchlib.percentile(lat, 95), 3),
        "p99_s": round(benchlib.percentile(lat, 99), 3), "max_s": round(max(lat), 3) if lat else None,
        "post_p50_s": round(benchlib.percentile(post_latency, 50), 3),
        "post_p99_s": round(benchlib.percentile(post_latency, 99), 3),
        "wall_s": round(elapsed_all, 1),
        "cpu_seconds": dict(sorted(cpu.items(), key=lambda kv: -kv[1])),
        "cpu_ms_per_payment": dict(sorted(per_payment.items(), key=lambda kv: -kv[1])),
        "cpu_ms_per_payment_total": per_payment_total,
        "load_generator_cpu_s": load_generator_s, "host_busy_share": host_busy,
        "cpu_bound_ceiling_per_s": round((os.cpu_count() or 1) * 1000 / per_payment_total, 1) if per_payment_total else None,
    }


async def bench(args) -> dict:
    import httpx
    import psycopg_pool
    from common.tokens import mint_token

    stack = start_stack(args.api_workers, args.db_pool_max)
    try:
        headers = {"Authorization": f"Bearer {mint_token(tenant=TENANT, roles=['admin'])}"}
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
        async with httpx.AsyncClient(timeout=30, headers=headers, limits=limits) as client, \
                psycopg_pool.AsyncConnectionPool(f"host=127.0.0.1 user=postgres dbname={stack.db_name('payments')}",
                                                 min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
            if args.settle_delay is not None:
                r = await client.post(f"{stack.url('processor')}/control/behaviour",
                                      json={"outcome": "settle", "delay_seconds": args.settle_delay})
                assert r.status_code == 200, r.text
            loan_ids = await make_loans(stack, client, args.loans)
            warm = await run_rate(stack, client, pool, loan_ids, 10, 3, args.timeout)   # ledger accounts open
            print(f"warm-up: {warm['allocated']}/{warm['offered']} allocated, p50 {warm['p50_s']}s", flush=True)
            rows = []
            for rate in args.rates:
                row = await run_rate(stack, client, pool, loan_ids, rate, args.duration, args.timeout)
                rows.append(row)
                top = ", ".join(f"{k} {v}" for k, v in list(row["cpu_ms_per_payment"].items())[:5])
                print(f"{rate:5.0f}/s offered: sustained {row['sustained_per_s']:6.1f}/s  p50 {row['p50_s']:.3f}s  "
                      f"p95 {row['p95_s']:.3f}s  p99 {row['p99_s']:.3f}s  errors {row['errors']}  "
                      f"late {row['not_allocated_within_timeout']}", flush=True)
                print(f"         CPU per payment {row['cpu_ms_per_payment_total']} ms (cores allow "
                      f"~{row['cpu_bound_ceiling_per_s']}/s; host busy {row['host_busy_share']:.0%}): {top}", flush=True)
                if row["p99_s"] > args.give_up or row["not_allocated_within_timeout"] > row["offered"] / 2:
                    print(f"fell over at {rate}/s: stopping here", flush=True)
                    break
                await asyncio.sleep(2)
    finally:
        stack.stop()
    ok = [r for r in rows if r["p99_s"] <= 1.0 and r["errors"] == 0 and r["not_allocated_within_timeout"] == 0
          and r["sustained_per_s"] >= 0.9 * r["offered_per_s"]]
    return {"rates": rows, "best_rate_with_p99_le_1s": max((r["offered_per_s"] for r in ok), default=None),
            "falls_over_at": next((r["offered_per_s"] for r in rows if r not in ok), None),
            "settle_delay_s": args.settle_delay if args.settle_delay is not None else 0.3,
            "api_workers": args.api_workers, "db_pool_max": int(stack.api_pool_max()), "duration_s": args.duration, "loans": args.loans}


def plot(result: dict) -> None:
    plt = benchlib.pyplot()
    rows = result["rates"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    x = [r["offered_per_s"] for r in rows]
    ax1.plot(x, [r["sustained_per_s"] for r in rows], "o-", label="sustained")
    ax1.plot(x, x, "--", color="grey", label="offered")
    ax1.axhline(200, color="red", lw=0.8, ls=":", label="target 200/s")
    ax1.set_xlabel("offered payments/s")
    ax1.set_ylabel("allocated payments/s")
    ax1.legend()
    for key, label in (("p50_s", "p50"), ("p95_s", "p95"), ("p99_s", "p99")):
        ax2.plot(x, [r[key] for r in rows], "o-", label=label)
    ax2.axhline(1.0, color="red", lw=0.8, ls=":", label="p99 target 1 s")
    ax2.set_yscale("log")
    ax2.set_xlabel("offered payments/s")
    ax2.set_ylabel("POST -> allocated (s)")
    ax2.legend()
    fig.suptitle("Payment pipeline, open loop (2 cores, shared host)")
    fig.tight_layout()
    fig.savefig(benchlib.plot_path("payments"), dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="10,20,25,50,100,150,200,300",
                        type=lambda s: [float(x) for x in s.split(",")])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of load per rate")
    parser.add_argument("--loans", type=int, default=60)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--db-pool-max", type=int, default=None,
                        help="Django psycopg pool size per API worker (default: what make run sets, scripts/stack.py)")
    parser.add_argument("--timeout", type=float, default=20.0, help="give a payment this long after the load")
    parser.add_argument("--give-up", type=float, default=10.0, help="stop raising the rate once p99 exceeds this")
    parser.add_argument("--settle-delay", type=float, default=None,
                        help="processor sandbox settle delay (default: the sandbox's own, 0.3 s)")
    args = parser.parse_args()
    os.environ.setdefault("LENDSIMPLE_JWT_SECRET", "lendsimple-dev-secret-do-not-use-in-production")
    result = {"machine": benchlib.machine(), **asyncio.run(bench(args))}
    benchlib.write_result("payments", result)
    plot(result)
    print(f"best rate with p99 <= 1 s: {result['best_rate_with_p99_le_1s']}/s; falls over at "
          f"{result['falls_over_at']}/s; results in bench/results/payments.json, plot payments.png")


if __name__ == "__main__":
    main()
