"""docker-compose.yml: the Compose specification, its variables, its mounts, its wiring."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from server_influxdb2 import VERSION

from pusher.config import parse_config
from pusher.secrets import variables

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE_CONFIG = ROOT / "platforms" / "compose" / "pusher.toml"
EXAMPLE = ROOT / "examples" / "pusher.toml"
EXAMPLE_V2 = ROOT / "examples" / "pusher-v2.toml"
# Compose interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, $VAR; $$ escapes.
_COMPOSE_VAR = re.compile(r"\$(?:\$|\{([A-Za-z_]\w*)(?:[:]?[-?+][^}]*)?\}|([A-Za-z_]\w*))")


def compose_schema() -> dict[str, Any]:
    # The official compose-spec schema, as vendored by check-jsonschema (a dev dependency).
    vendored = files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(vendored.read_text())


def schema_errors(document: Any) -> list[str]:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(document)]


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def compose_variables(text: str) -> set[str]:
    """Variables in the values of a YAML text (compose interpolates values, not comments)."""
    found = set()
    for value in strings(yaml.safe_load(text)):
        found |= {a or b for a, b in _COMPOSE_VAR.findall(value) if a or b}
    return found


def interpolated() -> dict[str, Any]:
    """The compose file as docker compose sees it with .env copied from .env.example."""
    env = env_example()

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return "$" if name is None else env[name]

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return _COMPOSE_VAR.sub(value, item)
        if isinstance(item, dict):
            return {key: walk(v) for key, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    return walk(yaml.safe_load(COMPOSE_TEXT))


def test_compose_file_validates_against_the_compose_specification():
    assert schema_errors(yaml.safe_load(COMPOSE_TEXT)) == []
    assert schema_errors(interpolated()) == []


def test_the_schema_catches_a_misspelt_key():
    broken = yaml.safe_load(COMPOSE_TEXT)
    broken["services"]["pusher"]["depend_on"] = broken["services"]["pusher"].pop("depends_on")
    assert any("depend_on" in error for error in schema_errors(broken))


def test_every_variable_is_in_env_example_and_every_example_is_used():
    used = compose_variables(COMPOSE_TEXT)
    example = set(env_example())
    assert used - example == set(), "add them to .env.example"
    assert example - used == set(), "unused in docker-compose.yml"


def test_mounted_paths_and_the_build_context_exist():
    services = interpolated()["services"]
    checked = 0
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
                checked += 1
        if "build" in service:
            context = ROOT / service["build"]["context"]
            assert (context / "Dockerfile").is_file()
            for value in service["build"].get("args", {}).values():
                assert (ROOT / value).exists()
    assert checked >= 5


def test_influxdb_is_initialised_by_its_setup_mode_with_the_shared_token():
    services = interpolated()["services"]
    influx = services["influxdb"]
    # The version the tests run against (the server scripts/influxd2.sh builds).
    assert influx["image"] == f"influxdb:{VERSION.removeprefix('v')}"
    init = {k: v for k, v in influx["environment"].items() if k.startswith("DOCKER_INFLUXDB")}
    assert init["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert init["DOCKER_INFLUXDB_INIT_BUCKET"] == "pusher"
    for name in ("USERNAME", "PASSWORD", "ORG", "RETENTION", "ADMIN_TOKEN"):
        assert init[f"DOCKER_INFLUXDB_INIT_{name}"], name
    token = init["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
    for name in ("pusher", "pusher-setup", "grafana"):
        assert services[name]["environment"]["INFLUX_TOKEN"] == token


def test_pusher_sets_up_once_then_runs_after_influxdb_is_healthy():
    services = interpolated()["services"]
    setup, pusher = services["pusher-setup"], services["pusher"]
    assert setup["entrypoint"] == ["/bin/sh", "-c"]
    [script] = setup["command"]
    assert "\npusher setup\n" in script
    check = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert setup["depends_on"]["influxdb"]["condition"] == "service_healthy"
    assert setup["restart"] == "no"
    assert pusher["command"] == ["run"]
    assert pusher["depends_on"]["pusher-setup"]["condition"] == "service_completed_successfully"
    assert pusher["healthcheck"]["test"][:3] == ["CMD", "pusher", "health"]
    for service in services.values():
        for target, condition in service.get("depends_on", {}).items():
            if condition["condition"] == "service_healthy":
                assert "test" in services[target]["healthcheck"], target
    # The spool and watermarks survive restarts in a named volume.
    assert "pusher-state:/var/lib/pusher" in pusher["volumes"]
    assert "pusher-state" in interpolated()["volumes"]


def test_grafana_mounts_the_provisioning_and_gets_what_it_interpolates():
    grafana = interpolated()["services"]["grafana"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]
    wanted: set[str] = set()
    for path in (ROOT / "grafana" / "provisioning").rglob("*.y*ml"):
        # Environment names only: `{{ $labels.x }}` in alert annotations is a template
        # variable, and Grafana does not interpolate annotations (grafana#54975).
        wanted |= {n for n in compose_variables(path.read_text()) if n.isupper()}
    assert {"INFLUX_URL", "INFLUX_TOKEN"} <= wanted
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "grafana" / "dashboards" / Path(home).name).is_file()
    assert home.startswith("/var/lib/grafana/dashboards/")
    assert wanted - set(grafana["environment"]) == set()


@pytest.mark.parametrize("path", [COMPOSE_CONFIG, EXAMPLE_V2], ids=lambda p: p.name)
def test_2x_configs_have_the_example_sources_and_rollups_on_the_2x_api(path: Path):
    config = tomllib.loads(path.read_text())
    example = tomllib.loads(EXAMPLE.read_text())
    assert config["sources"] == example["sources"], "copy the example's sources"
    assert config.get("rollups") == example.get("rollups"), "copy the example's rollups"
    assert config["pusher"]["timezone"] == example["pusher"]["timezone"]
    influx = config["influx"]
    assert (influx["api"], influx["bucket"], influx["daily_bucket"]) == \
        ("v2", "pusher", "pusher_daily")
    assert influx["token"] == "${INFLUX_TOKEN}"


@pytest.mark.parametrize("service", ["pusher", "pusher-setup"])
def test_compose_config_loads_with_the_containers_environment(service: str):
    environment = interpolated()["services"][service]["environment"]
    text = COMPOSE_CONFIG.read_text()
    needed = {name for name, default in variables(text) if default is None}
    assert needed <= set(environment)
    config = parse_config(tomllib.loads(text), environment, path=Path("/etc/pusher/pusher.toml"))
    assert str(config.state_dir) == "/var/lib/pusher"
    assert config.influx.url == "http://influxdb:8086"
    assert config.influx.token == env_example()["INFLUX_TOKEN"]
    assert config.redact(config.influx.token) == "***"
