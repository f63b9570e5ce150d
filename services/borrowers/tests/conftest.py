import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytest_plugins = ["common.pytest_plugin"]

SERVICE_DIR = Path(__file__).resolve().parent.parent
SANDBOX_DELAY = 3.0  # seconds a "timeout" answer takes; the client timeout in tests is shorter


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def identity_sandbox():
    """The sandbox identity provider as a real uvicorn process on a free port; yields its base URL."""
    port = _free_port()
    env = {**os.environ, "LENDSIMPLE_IDENTITY_SANDBOX_DELAY": str(SANDBOX_DELAY)}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "borrowers.providers.sandbox_identity:app",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            cwd=SERVICE_DIR, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the identity sandbox did not start")
        time.sleep(0.1)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def identity(identity_sandbox, settings):
    """Point the service at the sandbox (reset before the test) with a short client timeout."""
    httpx.delete(f"{identity_sandbox}/control", timeout=5).raise_for_status()
    settings.LENDSIMPLE_IDENTITY_URL = identity_sandbox
    settings.LENDSIMPLE_IDENTITY_TIMEOUT = 1.0
    return identity_sandbox
