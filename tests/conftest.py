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


@pytest.fixture(autouse=True, scope="session")
def _private_engine_cache(tmp_path_factory: pytest.TempPathFactory):
    """The engine cache of the whole run lives in a temporary folder (never the user's ~/.cache, and
    subprocesses of the CLI tests inherit it through TUOYU_GEO_CACHE)."""
    import os

    from tuoyu_geo import settings

    folder = tmp_path_factory.mktemp("engine-cache")
    saved, saved_env = settings.CACHE_DIR, os.environ.get("TUOYU_GEO_CACHE")
    settings.CACHE_DIR = folder
    os.environ["TUOYU_GEO_CACHE"] = str(folder)
    yield folder
    settings.CACHE_DIR = saved
    if saved_env is None:
        os.environ.pop("TUOYU_GEO_CACHE", None)
    else:
        os.environ["TUOYU_GEO_CACHE"] = saved_env
