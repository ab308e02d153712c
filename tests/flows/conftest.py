"""Flow tests run against a real Prefect server: one temporary server for the session."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

# The sweep tests' world (groups, people, meetings) is shared with these tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    # The temporary server's telemetry only adds writes (and lock errors) to its database.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with prefect_test_harness(server_startup_timeout=120):
        yield
