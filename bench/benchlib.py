"""Shared helpers for the benchmarks: machine description, medians, results JSON, per-process CPU."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    try:
        pg = subprocess.run(["psql", "-h", os.environ.get("LENDSIMPLE_DB_HOST", "127.0.0.1"), "-U", "postgres",
                             "-Atc", "SHOW server_version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pg = ""
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_gb": round(mem_kb / 1024 / 1024, 1),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
            "postgresql": pg, "platform": platform.platform(),
            "note": "shared 2-core host: other engineers' test suites may run concurrently (see loadavg)"}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def write_result(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": name, "at": datetime.now(UTC).isoformat(timespec="seconds"), **data}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def plot_path(name: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS / f"{name}.png"


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# --- per-process CPU from /proc --------------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def cpu_seconds(pid: int) -> float:
    """CPU (user + system) of a process and all its descendants, in seconds."""
    tree, total, todo = _children(), 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError, ValueError):
            pass
        todo.extend(tree.get(p, []))
    return total


def server_cpu_seconds(command: str) -> float:
    """CPU of every process whose command name is ``command`` (``postgres``, ``beam.smp`` for RabbitMQ).
    The servers are shared: this includes other users' load on them."""
    total = 0.0
    marker = f"({command})"
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                if marker in stat:
                    f = stat.rsplit(")", 1)[1].split()
                    total += (int(f[11]) + int(f[12])) / CLK_TCK
            except (OSError, IndexError, ValueError):
                continue
    return total


def host_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole host since boot, all cores (``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]           # idle + iowait
    return (sum(fields) - idle) / CLK_TCK, sum(fields) / CLK_TCK
