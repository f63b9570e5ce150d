import os

os.environ.setdefault("LEDGER_HEALTH_PORT", "0")

pytest_plugins = ["common.pytest_plugin"]
