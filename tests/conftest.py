"""Shared fixtures: real servers, each started once per session on free loopback ports."""

import os
import re
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import settings
from server_influxdb2 import InfluxDB2
from server_prometheus_history import PrometheusHistory, small_history
from servers import InfluxDB1, PostgreSQL, Prometheus

# Hypothesis replays the same examples on every run of the suite (derandomize: a pass here is
# a pass on CI). HYPOTHESIS_PROFILE=search draws fresh random examples each run, to hunt for
# new failures (CONTRIBUTING.md); a failure found that way becomes a fixed test.
settings.register_profile("suite", derandomize=True, database=None)
settings.register_profile("search", derandomize=False, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))

# Servers start lazily: a session pays only for the ones its tests ask for, and `with`
# stops them (and cleans up) even when the session fails.


@pytest.fixture(scope="session")
def influxdb1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB1]:
    with InfluxDB1(tmp_path_factory.mktemp("influxdb1")) as server:
        yield server


@pytest.fixture(scope="session")
def influxdb2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB2]:
    with InfluxDB2(tmp_path_factory.mktemp("influxdb2")) as server:
        yield server


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    with Prometheus(tmp_path_factory.mktemp("prometheus")) as server:
        yield server


@pytest.fixture(scope="session")
def prometheus_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusHistory]:
    """Prometheus over 12 days of real history (20 series at 15 minutes, from 2024-03-25)."""
    with PrometheusHistory(tmp_path_factory.mktemp("prometheus-history"),
                           small_history()) as server:
        yield server


@pytest.fixture(params=["msgspec", "json"])
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways the prometheus source decodes answers: msgspec (extra `fast`), json."""
    if request.param == "json":
        from pusher.sources import prometheus_api

        monkeypatch.setattr(prometheus_api, "msgspec", None)
    return str(request.param)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgreSQL]:
    with PostgreSQL(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture
def influx_db(influxdb1: InfluxDB1, request: pytest.FixtureRequest) -> str:
    """A fresh database per test, named after it so a failing test's data is easy to find."""
    # Databases are left in place: cheap, and a fault test may have InfluxDB down at teardown.
    name = f"t_{_test_name(request)}_{uuid.uuid4().hex[:8]}"
    influxdb1.create_database(name)
    return name


@pytest.fixture
def influx_bucket(influxdb2: InfluxDB2, request: pytest.FixtureRequest) -> str:
    """A fresh 2.x bucket per test (infinite retention), named after the test."""
    name = f"t_{_test_name(request)}_{uuid.uuid4().hex[:8]}"
    influxdb2.create_bucket(name)
    return name


def _test_name(request: pytest.FixtureRequest) -> str:
    return re.sub(r"\W+", "_", request.node.name).strip("_")[:40]
