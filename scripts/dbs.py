"""Create LendSimple's databases when they are missing (PostgreSQL from LENDSIMPLE_DB_* variables)."""

from __future__ import annotations

import os
import sys

import psycopg
from psycopg import sql


def _admin_conninfo() -> str:
    return psycopg.conninfo.make_conninfo(
        host=os.environ.get("LENDSIMPLE_DB_HOST", "127.0.0.1"), port=os.environ.get("LENDSIMPLE_DB_PORT", "5432"),
        user=os.environ.get("LENDSIMPLE_DB_USER", "postgres"), password=os.environ.get("LENDSIMPLE_DB_PASSWORD", ""),
        dbname="postgres", connect_timeout=5)


def ensure_databases(names: list[str]) -> None:
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in names:
            if name not in existing:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                print(f"created database {name}")


def drop_databases(names: list[str]) -> None:
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    ensure_databases(sys.argv[1:] or [f"lendsimple_{s}" for s in ("borrowers", "loans", "payments", "ledger")])
