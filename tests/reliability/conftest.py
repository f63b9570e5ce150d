"""Reliability and security suite (issue #11): runs against the session-wide `stack` of tests/conftest.py.

The chaos test kills processes of that stack, so it is moved to the end of the session."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from rel_support import Api, OwnedObjects, seed_objects  # noqa: E402


def pytest_collection_modifyitems(config, items):
    last = [i for i in items if i.get_closest_marker("chaos")]
    items[:] = [i for i in items if not i.get_closest_marker("chaos")] + last


def pytest_configure(config):
    config.addinivalue_line("markers", "chaos: kills processes of the shared stack; runs last")


@pytest.fixture(scope="session")
def owner(stack) -> OwnedObjects:
    """Tenant A with one of everything (borrower, product, active and pending loans, payment, accrual run)."""
    return seed_objects(stack, f"rel-a-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="session")
def intruder(stack) -> Api:
    """Tenant B, admin: sees everything of its own tenant and must see nothing of A's."""
    return Api.for_stack(stack, f"rel-b-{uuid.uuid4().hex[:6]}")
