"""Shared pytest configuration: online tests are opt-in.

Tests marked ``@pytest.mark.network`` need internet and are skipped unless pytest is run with
``--run-network``.  Fixtures live in the test files that use them.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-network", action="store_true", default=False,
                     help="also run tests marked @pytest.mark.network (need internet)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-network"):
        return
    skip = pytest.mark.skip(reason="needs internet; run with --run-network")
    for item in items:
        if item.get_closest_marker("network") is not None:
            item.add_marker(skip)
