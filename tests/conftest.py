"""Fixtures every test directory may use, and the hypothesis profiles.

Servers a test starts itself (Squid, `icapfilter serve`, a Redis it kills)
are built from tests/squidserver.py, tests/icapserver.py and
tests/redisserver.py; waiting goes through tests/polling.py.

Hypothesis profiles (``HYPOTHESIS_PROFILE=deep`` or ``--hypothesis-profile
deep``): ``fast``, the default and what CI runs, keeps each test's own
example count; ``deep``, run by hand, gives every property test at least
``DEEP_EXAMPLES`` examples (docs/operations.md, "Test profiles").
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.redisserver import RedisServer, redis_available
from tests.squidserver import Origin, start_origin

DEEP_EXAMPLES = 2000

settings.register_profile("fast", deadline=None, print_blob=True)
settings.register_profile("deep", max_examples=DEEP_EXAMPLES, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``deep``, raise the example count of tests that set their own."""
    if settings.get_current_profile_name() != "deep":
        return
    for item in items:
        test = getattr(item, "obj", None)
        if not getattr(test, "is_hypothesis_test", False):
            continue
        # hypothesis keeps a test's @settings here; no public API changes it after decoration
        own = test._hypothesis_internal_use_settings  # type: ignore[union-attr]
        if own.max_examples < DEEP_EXAMPLES:
            test._hypothesis_internal_use_settings = settings(  # type: ignore[union-attr]
                own, max_examples=DEEP_EXAMPLES)


@pytest.fixture(scope="session")
def origin() -> Iterator[Origin]:
    """The origin web server behind every test Squid (it keeps no state)."""
    server = start_origin()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis shared by the session: flush what you rely on; a test that kills,
    freezes or restarts Redis starts its own."""
    if not redis_available():
        pytest.skip("redis-server not installed")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()
