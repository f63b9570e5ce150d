#!/usr/bin/env python
"""Chaos run: payments at a steady rate while processes are SIGKILLed and broker connections dropped.

Starts its own stack (scripts/stack.py ``Stack``, exactly what `make run` starts) on free ports with its
own databases (``<prefix>_*``) and RabbitMQ vhost, seeds M active loans through the public API, then
posts N payments over them at a steady rate while a seeded fault injector SIGKILLs and restarts the
ledger worker, every relay and every consumer, and closes every broker connection of the vhost
(``rabbitmqctl close_all_connections``). Then it waits for quiescence (every payment terminal, every
outbox sent, every queue drained) and checks, in the databases and through the API:

- every payment accepted by the API is ``allocated``, with exactly one ledger allocation
  (lost = accepted but never allocated, duplicated = more than one payment posting for one payment);
- the sum of the allocations (and of their fees+interest+principal+overpayment) = the sum of the payments;
- every journal entry balances (debits = credits);
- each loan's balances in the loans service equal its ledger account;
- the dead-letter queues are empty (any message there is printed with its reason).

    python scripts/chaos.py                                   # make chaos: 10,000 payments, 1,000 loans
    python scripts/chaos.py --payments 500 --loans 50 --kills 5 --drops 1
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "libs" / "common" / "src"))

from common.tokens import mint_token  # noqa: E402

SERVICES = ("borrowers", "loans", "payments", "ledger")
# The processes the injector kills: the worker first, then the payment path, then the rest.
TARGETS = ["ledger-worker", "payments-relay", "ledger-consumer", "payments-consumer", "loans-consumer",
           "ledger-relay", "loans-relay", "borrowers-relay", "borrowers-consumer"]
TERMINAL = ("allocated", "failed", "returned")


class ApiError(RuntimeError):
    pass


class Api:
    """The public API with an admin token of one tenant; transport errors and 5xx retried (bounded)."""

    def __init__(self, urls: dict[str, str], tenant: str, *, timeout: float = 30):
        self.urls = urls
        self.tenant = tenant
        token = mint_token(tenant=tenant, roles=["admin"], sub="chaos")
        self.client = httpx.Client(timeout=timeout, headers={"Authorization": f"Bearer {token}"},
                                   limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))

    def request(self, method: str, service: str, path: str, body=None, *, expect=(200, 201, 202), headers=None,
                attempts: int = 6):
        last = None
        for attempt in range(attempts):
            try:
                r = self.client.request(method, f"{self.urls[service]}/api/v1{path}", json=body, headers=headers)
            except httpx.TransportError as exc:
                last = repr(exc)
            else:
                if r.status_code in expect:
                    return r.json()
                last = f"{r.status_code} {r.text[:300]}"
                if r.status_code < 500:
                    break
            time.sleep(min(2.0, 0.2 * 2 ** attempt))
        raise ApiError(f"{method} {service}{path}: {last}")

    def get(self, service: str, path: str, **kw):
        return self.request("GET", service, path, **kw)

    def post(self, service: str, path: str, body, **kw):
        return self.request("POST", service, path, body, **kw)


PRODUCT = {"name": "chaos", "currency": "USD", "annual_rate": "0.12", "term_min": 1, "term_max": 360,
           "frequency": "monthly", "interest_method": "declining_balance", "amortization": "equal_installments",
           "day_count": "30/360", "rounding": {"mode": "half_even", "places": 2},
           "origination_fee": {"type": "flat", "value": "0.00"}, "late_fee": {"amount": "0.00", "grace_days": 10},
           "default_after_days": 90, "allocation_order": ["fees", "interest", "principal"]}


def seed_active_loans(api: Api, count: int, *, principal: str = "10000.00", term: int = 24, workers: int = 8,
                      disbursed: date | None = None) -> list[dict]:
    """``count`` active loans (one product, a borrower per 10 loans), disbursed ``disbursed`` (default 10 days ago)."""
    disbursed = disbursed or date.today() - timedelta(days=10)
    product = api.post("loans", "/products", PRODUCT)
    borrowers = [api.post("borrowers", "/borrowers", {"first_name": "Chaos", "last_name": f"B{i}",
                                                      "email": f"chaos.{uuid.uuid4().hex[:10]}@example.com"})
                 for i in range(max(1, count // 10))]

    def one(i: int) -> dict:
        loan = api.post("loans", "/loans", {"borrower_id": borrowers[i % len(borrowers)]["id"],
                                            "product_id": product["id"], "principal": principal, "term": term})
        api.post("loans", f"/loans/{loan['id']}/approve", {})
        return api.post("loans", f"/loans/{loan['id']}/disburse", {"disbursement_date": disbursed.isoformat()})

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(count)))


# --- the stack -------------------------------------------------------------------------------------
def rabbitmqctl(*args: str, check: bool = True) -> str:
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)
    if check and done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def reset_vhost(vhost: str) -> None:
    rabbitmqctl("delete_vhost", vhost, check=False)
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")


@contextlib.contextmanager
def own_stack(prefix: str, *, keep: bool = False):
    """A whole stack on free ports with databases ``<prefix>_*`` and vhost ``<prefix>``; removed afterwards."""
    from dbs import drop_databases
    from stack import Stack, free_ports

    reset_vhost(prefix)
    ports = free_ports()
    log_dir = ROOT / ".run" / f"{prefix}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("*.log"):
        old.unlink()
    stack = Stack(ports=ports, db_prefix=prefix, api_workers=1, log_dir=log_dir, echo=False,
                  env={"LENDSIMPLE_BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{prefix}"})
    stack.vhost = prefix
    drop_databases([stack.db_name(s) for s in SERVICES])
    try:
        stack.prepare()
        stack.start()
        stack.wait_ready(timeout=180)
        yield stack
    finally:
        stack.stop()
        if not keep:
            drop_databases([stack.db_name(s) for s in SERVICES])
            rabbitmqctl("delete_vhost", prefix, check=False)


def vhost_of(stack) -> str:
    url = stack.base_env().get("LENDSIMPLE_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")
    return getattr(stack, "vhost", None) or url.rsplit("/", 1)[1] or "/"


def sql(stack, service: str, query: str, params=()) -> list[tuple]:
    import psycopg

    with psycopg.connect(host=os.environ.get("LENDSIMPLE_DB_HOST", "127.0.0.1"), user="postgres",
                         dbname=stack.db_name(service), autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def queue_depths(vhost: str) -> dict[str, int]:
    out = rabbitmqctl("list_queues", "-p", vhost, "name", "messages", "--no-table-headers")
    depths = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            depths[parts[0]] = int(parts[1])
    return depths


# --- the fault injector ----------------------------------------------------------------------------
@dataclass
class Faults:
    kills: int = 0
    drops: int = 0
    restarts: int = 0
    crashed: list[str] = field(default_factory=list)     # processes found dead that nobody killed
    log: list[str] = field(default_factory=list)


def say(*args) -> None:
    print(*args, flush=True)


def fault_plan(rng: random.Random, *, kills: int, drops: int, duration: float) -> list[tuple[float, str]]:
    """(offset seconds, action): every target killed once before any is killed twice, drops spread in."""
    victims = []
    while len(victims) < kills:
        batch = list(TARGETS)
        if not victims:          # the worker and the payment path first, the rest shuffled
            head, tail = batch[:2], batch[2:]
            rng.shuffle(tail)
            batch = head + tail
        else:
            rng.shuffle(batch)
        victims += batch
    actions = victims[:kills] + ["broker-drop"] * drops
    # the first action early, the last well before the end, so recovery happens under load
    times = sorted(rng.uniform(0.05, 0.85) * duration for _ in actions)
    order = actions[:1] + rng.sample(actions[1:], len(actions) - 1) if actions else []
    return list(zip(times, order, strict=True))


class Injector(threading.Thread):
    def __init__(self, stack, plan: list[tuple[float, str]], faults: Faults, echo=say):
        super().__init__(daemon=True)
        self.stack, self.plan, self.faults, self.echo = stack, plan, faults, echo
        self.stop_event = threading.Event()

    def supervise(self) -> None:
        """Restart what died by itself, as the process supervisor (k8s, systemd) would; count it."""
        for name in self.stack.dead():
            self.faults.crashed.append(name)
            self.faults.log.append(f"{name} had exited by itself; restarted")
            self.stack.restart(name)
            self.faults.restarts += 1

    def run(self) -> None:
        started = time.monotonic()
        for offset, action in self.plan:
            while not self.stop_event.is_set() and time.monotonic() - started < offset:
                self.stop_event.wait(0.5)
                self.supervise()
            if self.stop_event.is_set():
                return
            at = time.monotonic() - started
            if action == "broker-drop":
                rabbitmqctl("close_all_connections", "--vhost", vhost_of(self.stack), "--limit", "10000", "chaos")
                self.faults.drops += 1
            else:
                self.stack.restart(action, signal.SIGKILL)
                self.faults.kills += 1
                self.faults.restarts += 1
            self.faults.log.append(f"{at:6.1f}s {action}")
            self.echo(f"  fault {at:6.1f}s {action}")
        while not self.stop_event.wait(1):
            self.supervise()


# --- the run ---------------------------------------------------------------------------------------
@dataclass
class ChaosReport:
    payments: int = 0
    accepted: int = 0
    rejected: list[str] = field(default_factory=list)
    loans: int = 0
    kills: int = 0
    drops: int = 0
    restarts: int = 0
    crashed: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    lost: int = 0
    duplicated: int = 0
    unbalanced_entries: int = 0
    projection_mismatches: list[str] = field(default_factory=list)
    sum_payments: Decimal = Decimal(0)
    sum_allocations: Decimal = Decimal(0)
    sum_allocation_parts: Decimal = Decimal(0)
    dead_letters: dict[str, int] = field(default_factory=dict)
    dead_letter_reasons: list[str] = field(default_factory=list)
    leftovers: dict[str, int] = field(default_factory=dict)
    quiescent: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (self.quiescent and not self.rejected and self.lost == 0 and self.duplicated == 0
                and self.unbalanced_entries == 0 and not self.projection_mismatches
                and self.sum_payments == self.sum_allocations == self.sum_allocation_parts
                and self.statuses.get("allocated", 0) == self.accepted and not any(self.dead_letters.values()))

    def lines(self) -> list[str]:
        return [
            f"payments posted {self.payments}, accepted {self.accepted}, rejected {len(self.rejected)}, "
            f"over {self.loans} loans",
            f"faults: kills {self.kills}, broker drops {self.drops}, restarts {self.restarts}, "
            f"exited by themselves {len(self.crashed)} {sorted(Counter(self.crashed).items())}",
            f"statuses {dict(self.statuses)}; lost {self.lost}, duplicated {self.duplicated}",
            f"sum of payments {self.sum_payments}, of allocations {self.sum_allocations}, "
            f"of allocation parts {self.sum_allocation_parts}",
            f"unbalanced journal entries {self.unbalanced_entries}; projection mismatches "
            f"{len(self.projection_mismatches)} {self.projection_mismatches[:5]}",
            f"dead letters {self.dead_letters} {self.dead_letter_reasons[:5]}; quiescent {self.quiescent} "
            f"{self.leftovers or ''}",
            "timings " + ", ".join(f"{k} {v:.0f}s" for k, v in self.seconds.items()),
            f"RESULT {'OK' if self.ok else 'FAILED'}",
        ]


def post_payments(api: Api, loans: list[dict], *, count: int, rate: float, rng: random.Random, value_date: str,
                  report: ChaosReport, threads: int = 8) -> list[tuple[str, Decimal]]:
    """``count`` payments at ``rate`` per second, each with its own Idempotency-Key (retried with it)."""
    plan = [(loans[i % len(loans)]["id"], Decimal(rng.randint(100, 2000)) / 100) for i in range(count)]
    accepted: list[tuple[str, Decimal] | None] = [None] * count
    started = time.monotonic()
    lock = threading.Lock()

    def one(i: int) -> None:
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        loan_id, amount = plan[i]
        key = f"chaos-{i}-{uuid.uuid4().hex[:8]}"
        try:
            p = api.post("payments", "/payments", {"loan_id": loan_id, "amount": f"{amount:.2f}", "currency": "USD",
                                                   "method": "ach", "value_date": value_date},
                         headers={"Idempotency-Key": key}, attempts=8)
            accepted[i] = (p["id"], amount)
        except ApiError as exc:
            with lock:
                report.rejected.append(str(exc)[:300])

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(count)))
    report.payments = count
    return [a for a in accepted if a]


def wait_quiescent(stack, tenant: str, expected: int, *, timeout: float, echo=say) -> tuple[bool, dict]:
    """Every payment terminal, every outbox sent, every non-DLQ queue empty — twice in a row."""
    vhost = vhost_of(stack)
    deadline = time.monotonic() + timeout
    calm = 0
    last: dict = {}
    while time.monotonic() < deadline:
        terminal = sql(stack, "payments", "SELECT count(*) FROM payments_payment WHERE tenant_id = %s AND status = ANY(%s)",
                       (tenant, list(TERMINAL)))[0][0]
        unsent = {s: sql(stack, s, "SELECT count(*) FROM bus_outbox WHERE sent_at IS NULL")[0][0] for s in SERVICES}
        queued = {q: n for q, n in queue_depths(vhost).items() if n and not q.endswith(".dlq")}
        last = {"terminal": terminal, "expected": expected, **{f"outbox:{k}": v for k, v in unsent.items() if v},
                **queued}
        if terminal >= expected and not any(unsent.values()) and not queued:
            calm += 1
            if calm >= 2:
                return True, {}
        else:
            calm = 0
        echo(f"  waiting: {last}")
        time.sleep(3)
    return False, last


def verify(stack, api: Api, tenant: str, accepted: list[tuple[str, Decimal]], loans: list[dict],
           report: ChaosReport) -> None:
    ids = [pid for pid, _ in accepted]
    report.accepted = len(ids)
    report.sum_payments = sum((a for _, a in accepted), Decimal(0))
    report.statuses = Counter(dict(sql(stack, "payments", "SELECT status, count(*) FROM payments_payment "
                                       "WHERE tenant_id = %s GROUP BY status", (tenant,))))
    rows = sql(stack, "ledger", "SELECT payment_id::text, count(*), sum(amount), sum(fees + interest + principal + "
               "overpayment) FROM ledger_allocation WHERE tenant_id = %s AND NOT reversed GROUP BY payment_id",
               (tenant,))
    allocated = {r[0]: r for r in rows}
    report.lost = sum(1 for pid in ids if pid not in allocated)
    postings = dict(sql(stack, "ledger", "SELECT reference, count(*) FROM ledger_journal_entry WHERE tenant_id = %s "
                        "AND kind = 'payment' GROUP BY reference", (tenant,)))
    report.duplicated = sum(1 for r in rows if r[1] > 1) + sum(1 for n in postings.values() if n > 1) \
        + sum(1 for pid in allocated if pid not in set(ids))
    report.sum_allocations = sum((r[2] for r in rows), Decimal(0))
    report.sum_allocation_parts = sum((r[3] for r in rows), Decimal(0))
    report.unbalanced_entries = sql(stack, "ledger", "SELECT count(*) FROM (SELECT e.id FROM ledger_journal_entry e "
                                    "JOIN ledger_journal_line l ON l.entry_id = e.id WHERE e.tenant_id = %s "
                                    "GROUP BY e.id HAVING sum(l.debit) <> sum(l.credit)) x", (tenant,))[0][0]
    accounts = {str(r[0]): r[1:] for r in sql(stack, "ledger", "SELECT loan_id, principal, interest + interest_suspended, fees "
                                               "FROM ledger_account WHERE tenant_id = %s", (tenant,))}

    def compare(loan: dict) -> str | None:
        projected = api.get("loans", f"/loans/{loan['id']}")["balances"]
        ledger = accounts.get(loan["id"])
        if ledger is None:
            return f"{loan['id']}: no ledger account"
        for name, value in zip(("principal", "interest", "fees"), ledger, strict=True):
            if Decimal(projected[name]) != value.quantize(Decimal("0.01")):
                return f"{loan['id']}: {name} loans {projected[name]} ledger {value}"
        return None

    with ThreadPoolExecutor(8) as pool:
        report.projection_mismatches = [m for m in pool.map(compare, loans) if m]
    depths = queue_depths(vhost_of(stack))
    report.dead_letters = {q: n for q, n in depths.items() if q.endswith(".dlq")}
    for queue, n in report.dead_letters.items():
        if n:
            service = queue.split(".")[0]
            out = stack.manage(service if service in SERVICES else "ledger", "dead_letters", "list", "--service",
                               service, "--limit", "20", check=False)
            report.dead_letter_reasons += [f"{queue}: {line[:300]}" for line in (out.stdout or b"").decode().splitlines()]


def run_chaos(stack, *, payments: int, loans: int, kills: int, drops: int, seed: int = 11, rate: float | None = None,
              quiesce_timeout: float = 600, echo=say) -> ChaosReport:
    rng = random.Random(seed)
    report = ChaosReport(loans=loans)
    tenant = f"chaos-{uuid.uuid4().hex[:8]}"
    urls = {s: stack.url(s) for s in ("borrowers", "loans", "payments")}
    api = Api(urls, tenant)
    t0 = time.monotonic()
    echo(f"chaos: tenant {tenant}, seeding {loans} active loans")
    seeded = seed_active_loans(api, loans)
    report.seconds["seed"] = time.monotonic() - t0
    # 20/s at most: within what the pipeline sustains on 2 cores (~25/s, bench/README.md), so the run
    # measures faults, not a backlog
    rate = rate or max(5.0, min(20.0, payments / 500))
    duration = payments / rate
    plan = fault_plan(rng, kills=kills, drops=drops, duration=duration)
    echo(f"chaos: {payments} payments at {rate:.0f}/s (~{duration:.0f}s), {kills} kills, {drops} broker drops")
    faults = Faults()
    injector = Injector(stack, plan, faults, echo=echo)
    injector.start()
    t1 = time.monotonic()
    accepted = post_payments(api, seeded, count=payments, rate=rate, rng=rng, value_date=date.today().isoformat(),
                             report=report)
    report.seconds["post"] = time.monotonic() - t1
    injector.join(timeout=max(5.0, duration))          # every planned fault happens, even if posting was fast
    t2 = time.monotonic()
    quiet, leftovers = wait_quiescent(stack, tenant, len(accepted), timeout=quiesce_timeout, echo=echo)
    injector.stop_event.set()
    injector.join(10)
    report.quiescent, report.leftovers = quiet, leftovers
    report.seconds["quiesce"] = time.monotonic() - t2
    report.kills, report.drops, report.restarts, report.crashed = faults.kills, faults.drops, faults.restarts, \
        faults.crashed
    verify(stack, api, tenant, accepted, seeded, report)
    report.seconds["total"] = time.monotonic() - t0
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=10_000)
    parser.add_argument("--loans", type=int, default=1_000)
    parser.add_argument("--kills", type=int, default=24)
    parser.add_argument("--drops", type=int, default=3)
    parser.add_argument("--rate", type=float, default=None, help="payments per second (default: N/500, 5..20)")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("CHAOS_SEED", "11")))
    parser.add_argument("--prefix", default="lendsimple_chaos")
    parser.add_argument("--keep", action="store_true", help="keep the databases and vhost for inspection")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args()
    with own_stack(args.prefix, keep=args.keep) as stack:
        report = run_chaos(stack, payments=args.payments, loans=args.loans, kills=args.kills, drops=args.drops,
                           seed=args.seed, rate=args.rate, quiesce_timeout=max(600, args.payments / 10))
        for line in report.lines():
            print(line)
        for line in report.rejected[:10]:
            print("  rejected:", line)
        if args.json:
            args.json.write_text(json.dumps({k: str(v) for k, v in report.__dict__.items()}, indent=1))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
