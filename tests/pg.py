"""The ``pg_server`` fixture: a throw-away PostgreSQL server (bench.pg) for the test session."""
from __future__ import annotations

import pytest

from bench.pg import postgres_server, skip_reason


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server for the test session; skipped where the binaries are missing."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    with postgres_server() as server:
        yield server
