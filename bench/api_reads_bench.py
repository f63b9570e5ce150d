"""API read benchmark (a script, not a test).

    uv run python bench/api_reads_bench.py [--duration 8] [--runs 3] [--connections 32] [--workers 1,2]

GET /api/v1/loans/{id} on the loans service (gunicorn + uvicorn workers, exactly as scripts/stack.py starts
it) at fixed concurrency with wrk (Debian's package; another process), 1 and 2 workers, and in the same run
two references on the same row and the same worker counts:
- floor: a bare ASGI app (bench/refapps/bare_asgi.py) reading the row with an async psycopg pool;
- ceiling: the loans service's own Django/ninja-extra stack (same settings, middleware, JWT auth, permission
  class) answering a route with no database access (bench/refapps/nodb_urls.py).
The loan read is measured for a loan officer holding the object grant (the guardian-checked path) and for a
tenant admin; it runs as shipped (common.adb: one statement on the event loop, pooled connections; Django's
psycopg pool as make run sets it). Medians of --runs runs of --duration s each. Writes
bench/results/api_reads.json and .png.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(BENCH))

import benchlib  # noqa: E402

DB_PREFIX = "lendsimple_benchreads"
TENANT = "bench-reads"
LOANS_DIR = ROOT / "services" / "loans"


def prepare_data() -> dict:
    """Databases for borrowers and loans, migrated; one borrower, product and loan made through the API."""
    import httpx
    from common.tokens import mint_token
    from dbs import drop_databases, ensure_databases
    from stack import Stack, free_ports

    ports = free_ports()
    stack = Stack(ports=ports, db_prefix=DB_PREFIX, api_workers=1, echo=False,
                  only={"borrowers-api", "loans-api"})
    names = [stack.db_name("borrowers"), stack.db_name("loans")]
    drop_databases(names)
    ensure_databases(names)
    for svc in ("borrowers", "loans"):
        stack.manage(svc, "migrate", "--noinput", "-v", "0")
    stack.start()
    try:
        stack.wait_ready(timeout=120)
        officer = {"Authorization": f"Bearer {mint_token(tenant=TENANT, roles=['loan_officer'], sub='officer-1')}"}
        admin = {"Authorization": f"Bearer {mint_token(tenant=TENANT, roles=['admin'], sub='admin-1')}"}
        with httpx.Client(timeout=30) as c:
            borrower = c.post(f"{stack.url('borrowers')}/api/v1/borrowers", headers=admin, json={
                "first_name": "Ada", "last_name": "Lovelace", "email": f"{uuid.uuid4().hex[:10]}@example.com"})
            assert borrower.status_code == 201, borrower.text
            product = c.post(f"{stack.url('loans')}/api/v1/products", headers=admin, json={
                "name": "bench", "currency": "USD", "annual_rate": "0.12", "term_min": 1, "term_max": 360,
                "frequency": "monthly", "interest_method": "declining_balance",
                "amortization": "equal_installments", "day_count": "actual/365",
                "rounding": {"mode": "half_even", "places": 2}, "origination_fee": {"type": "flat", "value": "0.00"},
                "late_fee": {"amount": "0.00", "grace_days": 10}, "default_after_days": 90,
                "allocation_order": ["fees", "interest", "principal"]})
            assert product.status_code == 201, product.text
            loan = c.post(f"{stack.url('loans')}/api/v1/loans", headers=officer, json={
                "borrower_id": borrower.json()["id"], "product_id": product.json()["id"], "principal": "25000.00",
                "term": 36})
            assert loan.status_code == 201, loan.text
            loan_id = loan.json()["id"]
            for who in (officer, admin):
                r = c.get(f"{stack.url('loans')}/api/v1/loans/{loan_id}", headers=who)
                assert r.status_code == 200, r.text
    finally:
        stack.stop()
    return {"loan_id": loan_id, "officer": officer["Authorization"], "admin": admin["Authorization"],
            "db": stack.db_name("loans")}


def start_server(target: str, workers: int, port: int, db: str) -> subprocess.Popen:
    from stack import Stack

    # the APIs' Django psycopg pool as make run sets it (the refapps ignore it)
    env = dict(os.environ, LENDSIMPLE_DB_NAME=db, PYTHONPATH=str(BENCH / "refapps"), LOG_LEVEL="WARNING",
               LENDSIMPLE_DB_POOL_MAX=Stack().api_pool_max())
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    proc = subprocess.Popen([gunicorn, target, "-k", "uvicorn.workers.UvicornWorker", "-b", f"127.0.0.1:{port}",
                             "-w", str(workers), "--log-level", "warning"], cwd=LOANS_DIR, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return proc
        except urllib.error.HTTPError:
            return proc                       # answering (the bare app has no /healthz)
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise TimeoutError(target)


def stop_server(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, 15)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, auth: str | None, duration: float, connections: int) -> dict:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", url]
    if auth:
        argv[1:1] = ["-H", f"Authorization: {auth}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {p: float(v) * UNITS[u] for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rps": rps, "p50_ms": lat.get("50"), "p99_ms": lat.get("99"), "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(0) if errors else ""}


def measure(name: str, target: str, path: str, auth: str | None, workers: int, data: dict, args) -> dict:
    from stack import free_port

    port = free_port()
    proc = start_server(target, workers, port, data["db"])
    cpu_before = benchlib.cpu_seconds(proc.pid)
    try:
        url = f"http://127.0.0.1:{port}{path}"
        wrk(url, auth, 2, args.connections)                   # warm-up: imports, pools, caches
        runs = [wrk(url, auth, args.duration, args.connections) for _ in range(args.runs)]
    finally:
        cpu = benchlib.cpu_seconds(proc.pid) - cpu_before
        stop_server(proc)
    row = {"name": name, "workers": workers, "runs": runs,
           "rps": round(benchlib.median([r["rps"] for r in runs])),
           "p50_ms": round(benchlib.median([r["p50_ms"] for r in runs]), 2),
           "p99_ms": round(benchlib.median([r["p99_ms"] for r in runs]), 2),
           "non_2xx": sum(r["non_2xx"] for r in runs),
           "server_cpu_s_per_1000_req": round(1000 * cpu / max(1, sum(r["rps"] * args.duration for r in runs)), 3)}
    print(f"{name:<34} w={workers}  {row['rps']:6d} req/s  p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:7.2f} ms"
          f"  non-2xx {row['non_2xx']}", flush=True)
    return row


def plot(result: dict) -> None:
    plt = benchlib.pyplot()
    rows = result["rows"]
    names = list(dict.fromkeys(r["name"] for r in rows))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(result["workers"])
    for i, w in enumerate(result["workers"]):
        rps = [next((r["rps"] for r in rows if r["name"] == n and r["workers"] == w), 0) for n in names]
        p99 = [next((r["p99_ms"] for r in rows if r["name"] == n and r["workers"] == w), 0) for n in names]
        xs = [x + i * width for x in range(len(names))]
        ax1.barh(xs, rps, height=width, label=f"{w} worker(s)")
        ax2.barh(xs, p99, height=width, label=f"{w} worker(s)")
    for ax in (ax1, ax2):
        ax.set_yticks([x + width / 2 for x in range(len(names))])
        ax.set_yticklabels(names, fontsize=8)
        ax.legend(fontsize=8)
    ax1.axvline(1000, color="red", ls=":", lw=0.8)
    ax1.set_xlabel("req/s (median)")
    ax2.axvline(50, color="red", ls=":", lw=0.8)
    ax2.set_xlabel("p99 latency, ms (median)")
    fig.suptitle(f"GET /loans/{{id}}, wrk {result['connections']} connections (2 cores shared with wrk)")
    fig.tight_layout()
    fig.savefig(benchlib.plot_path("api_reads"), dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", default="1,2", type=lambda s: [int(x) for x in s.split(",")])
    args = parser.parse_args()
    os.environ.setdefault("LENDSIMPLE_JWT_SECRET", "lendsimple-dev-secret-do-not-use-in-production")
    machine = benchlib.machine()
    data = prepare_data()
    loan_path = f"/api/v1/loans/{data['loan_id']}"
    rows = []
    for workers in args.workers:
        rows.append(measure("floor: bare ASGI + psycopg pool", "bare_asgi:app", loan_path, None, workers, data, args))
        rows.append(measure("ceiling: ninja-extra, no DB", "nodb_asgi:application", "/nodb/bench/ping",
                            data["officer"], workers, data, args))
        rows.append(measure("loan read (officer, guardian grant)", "loans_service.asgi:application", loan_path,
                            data["officer"], workers, data, args))
        rows.append(measure("loan read (tenant admin)", "loans_service.asgi:application", loan_path,
                            data["admin"], workers, data, args))
    result = {"machine": machine, "connections": args.connections, "duration_s": args.duration, "runs": args.runs,
              "workers": args.workers, "load_tool": "wrk -t2 (same 2 cores as the servers)", "rows": rows,
              "target": {"rps": 1000, "p99_ms": 50}}
    benchlib.write_result("api_reads", result)
    plot(result)
    print("results in bench/results/api_reads.json, plot api_reads.png")


if __name__ == "__main__":
    main()
