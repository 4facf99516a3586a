"""Kubernetes manifests: rendering from the config, schema validation offline, no drift."""

from __future__ import annotations

import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from pusher.cli import cli
from pusher.deploy.k8s import Options, environment, render, to_yaml, with_state_dir
from pusher.deploy.schedules import to_cron
from pusher.errors import ConfigError
from pusher.reading import Granularity

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "pusher.toml"
COMMITTED = ROOT / "platforms" / "k8s"
K8S_VERSION = "1.30"  # CronJob.spec.timeZone is stable since 1.27


def example_files() -> dict[str, list[dict]]:
    return render(EXAMPLE.read_text(), str(EXAMPLE), Options(image="pusher:0.1.0"))


def enabled_example_sources() -> list[str]:
    sources = tomllib.loads(EXAMPLE.read_text())["sources"]
    return [name for name, spec in sources.items() if spec.get("enabled", True)]


def test_committed_manifests_match_the_example_config():
    files = example_files()
    committed = {p.name: p.read_text() for p in COMMITTED.glob("*.yaml")}
    expected = {name: to_yaml(docs) for name, docs in files.items()}
    assert committed.keys() == expected.keys(), "re-run: pusher -c examples/pusher.toml " \
        "k8s render --out platforms/k8s"
    for name, text in expected.items():
        assert committed[name] == text, f"platforms/k8s/{name} drifted: re-render it"


def test_every_committed_manifest_validates_strictly_offline():
    checked = 0
    for path in sorted(COMMITTED.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc["kind"] == "Kustomization":  # not a Kubernetes API object
                continue
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            checked += 1
    assert checked == 4 + len(enabled_example_sources())


def test_the_validator_rejects_a_broken_cronjob():
    cron_job = yaml.safe_load((COMMITTED / "cronjob-prometheus.yaml").read_text())
    cron_job["spec"]["concurrency"] = "Forbid"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(cron_job, K8S_VERSION, strict=True)


def test_one_cronjob_per_enabled_source_running_collect():
    files = example_files()
    jobs = [docs[0] for name, docs in files.items() if name.startswith("cronjob-")]
    names = enabled_example_sources()
    assert "google_analytics" not in names  # disabled in the demo: no CronJob
    assert sorted(j["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
                  for j in jobs) == sorted(["collect", n, "--timeout", "3180"] for n in names)
    for job in jobs:
        spec = job["spec"]
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["startingDeadlineSeconds"] == 600
        assert spec["timeZone"] == "Europe/Paris"
        assert spec["jobTemplate"]["spec"]["backoffLimit"] == 2
        # A config error (exit 2) is not retried: only transient failures (exit 1) are.
        assert spec["jobTemplate"]["spec"]["podFailurePolicy"] == {"rules": [{
            "action": "FailJob", "onExitCodes": {"containerName": "pusher",
                                                 "operator": "In", "values": [2]}}]}
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["image"] == "pusher:0.1.0"
        assert set(container["resources"]) == {"requests", "limits"}
        assert pod["securityContext"]["runAsNonRoot"] is True
    prometheus = files["cronjob-prometheus.yaml"][0]
    assert prometheus["spec"]["schedule"] == "5 * * * *"


def test_setup_job_config_map_and_kustomization():
    files = example_files()
    job = files["setup-job.yaml"][0]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["setup"]
    config_map = files["config.yaml"][0]
    config = tomllib.loads(config_map["data"]["pusher.toml"])
    assert config["pusher"]["state_dir"] == "/var/lib/pusher"
    assert config["sources"] == tomllib.loads(EXAMPLE.read_text())["sources"]
    kustomization = files["kustomization.yaml"][0]
    assert kustomization["resources"] == [n for n in files if n != "kustomization.yaml"]


def test_adding_a_source_adds_a_cronjob_and_a_namespace_applies_everywhere():
    text = EXAMPLE.read_text() + '\n[sources.Nightly_Report]\ntype = "python"\n' \
        'callable = "x:y"\ngranularity = "daily"\nschedule = "every 2h"\n'
    files = render(text, "x.toml", Options(image="img:1", namespace="metrics"))
    job = files["cronjob-nightly-report.yaml"][0]
    assert job["metadata"]["name"] == "pusher-nightly-report"
    assert job["spec"]["schedule"] == "5 */2 * * *"
    args = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["collect", "Nightly_Report", "--timeout", "3180"]
    assert all(docs[0]["metadata"]["namespace"] == "metrics"
               for name, docs in files.items() if name != "kustomization.yaml")
    assert files["kustomization.yaml"][0]["namespace"] == "metrics"


@pytest.mark.parametrize(("schedule", "extra", "deadline", "timeout"), [
    ("@hourly", "", 3240, 3180),  # 90% of the hour; the run stops 60 s (the grace) before
    ("@daily", "", 3240, 3180),  # by default at most an hour's 90%, as for an hourly source
    ("@daily", "timeout = 7200\n", 7260, 7200),  # its own timeout, under the day
    ("@hourly", "timeout = 7200\n", 3240, 3180),  # too long for the hour: cut to fit
    ("every 5m", "timeout = 100\n", 160, 100),
    ("every 1m", "", 54, 27),  # a grace of more than half the room is cut to half
])
def test_a_cronjob_deadline_leaves_the_grace_above_the_timeout_under_the_period(
        schedule, extra, deadline, timeout):
    """Issue 17 §5: Kubernetes kills the pod only after the run timed out by itself."""
    text = f'[sources.s]\ntype = "python"\ncallable = "x:y"\nschedule = "{schedule}"\n{extra}'
    job = render(text, "x.toml", Options(image="img:1"))["cronjob-s.yaml"][0]
    spec = job["spec"]["jobTemplate"]["spec"]
    args = spec["template"]["spec"]["containers"][0]["args"]
    assert (spec["activeDeadlineSeconds"], args[2:]) == (deadline, ["--timeout", str(timeout)])
    period = to_cron(schedule, Granularity.HOURLY).period
    assert timeout < deadline < period


def test_the_grace_comes_from_the_config():
    text = ('[pusher]\ntimeout_grace = 15\n[sources.s]\ntype = "python"\ncallable = "x:y"\n'
            'timeout = 600\n')
    spec = render(text, "x.toml", Options(image="img:1"))["cronjob-s.yaml"][0]["spec"]
    assert spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 615
    with pytest.raises(ConfigError) as raised:
        render(text.replace("15", "-1"), "x.toml", Options(image="img:1"))
    assert raised.value.key == "pusher.timeout_grace"


def test_secrets_get_placeholders_and_plain_variables_their_defaults():
    text = ('[influx]\nurl = "${INFLUX_URL:-http://influx:8086}"\ntoken = "${INFLUX_TOKEN}"\n'
            '# not used: ${IN_A_COMMENT}\n[sources.db]\ntype = "sql"\n'
            'url = "${DB_URL:-postgresql://reader:pw@db/app}"\nregion = "${REGION}"\n')
    plain, secret = environment(text)
    assert plain == {"INFLUX_URL": "http://influx:8086", "REGION": "change-me"}
    assert secret == {"DB_URL": "postgresql://reader:pw@db/app", "INFLUX_TOKEN": "change-me"}


def test_a_variable_only_the_replaced_state_dir_used_is_not_asked_for():
    text = ('[pusher]\nstate_dir = "${LOCAL_STATE:-../state}"\n'
            '[influx]\nurl = "${INFLUX_URL:-http://influx:8086}"\n')
    files = render(text, "x.toml", Options(image="img:1"))
    (env,) = [doc for docs in files.values() for doc in docs if doc["kind"] == "ConfigMap"
              and "pusher.toml" not in doc["data"]]
    assert env["data"] == {"INFLUX_URL": "http://influx:8086"}


def test_state_dir_is_replaced_inserted_or_appended():
    replaced = with_state_dir('[pusher]\nstate_dir = "x"\n[influx]\nstate_dir_x = 1\n', "/s")
    assert tomllib.loads(replaced)["pusher"]["state_dir"] == "/s"
    assert tomllib.loads(replaced)["influx"] == {"state_dir_x": 1}
    inserted = with_state_dir('[pusher]\ntimezone = "UTC"\n', "/s")
    assert tomllib.loads(inserted)["pusher"] == {"state_dir": "/s", "timezone": "UTC"}
    appended = with_state_dir('[influx]\nurl = "http://x"\n', "/s")
    assert tomllib.loads(appended)["pusher"] == {"state_dir": "/s"}


@pytest.mark.parametrize(("schedule", "granularity", "cron", "period"), [
    ("@hourly", "hourly", "5 * * * *", 3600),
    ("@daily", "daily", "5 0 * * *", 86400),
    (None, "hourly", "5 * * * *", 3600),
    (None, "daily", "5 0 * * *", 86400),
    ("every 15m", "hourly", "*/15 * * * *", 900),
    ("every 1m", "hourly", "* * * * *", 60),
    ("every 600s", "hourly", "*/10 * * * *", 600),
    ("@weekly", "daily", "0 0 * * 0", None),
    ("every 6h", "hourly", "5 */6 * * *", 21600),
    ("every 1d", "daily", "5 0 * * *", 86400),
    ("30  2 * * 1-5", "daily", "30 2 * * 1-5", None),
])
def test_schedules_become_cron(schedule, granularity, cron, period):
    result = to_cron(schedule, Granularity(granularity), delay=5)
    assert (result.cron, result.period) == (cron, period)


@pytest.mark.parametrize("schedule", ["every 7m", "every 5h", "every 2d", "every 90s",
                                      "hourly", "* * * *", "every 0m", "61 * * * *"])
def test_schedules_that_cannot_be_cron_are_refused(schedule):
    with pytest.raises(ValueError):
        to_cron(schedule, Granularity.HOURLY)


def test_a_bad_schedule_is_a_config_error_naming_the_key():
    text = '[sources.a]\ntype = "python"\nschedule = "every 7m"\n'
    with pytest.raises(ConfigError) as caught:
        render(text, "p.toml", Options(image="i"))
    assert str(caught.value).startswith("p.toml: sources.a.schedule: ")


def test_render_command_writes_files_and_drops_stale_cronjobs(tmp_path):
    (tmp_path / "cronjob-gone.yaml").write_text("old")
    result = CliRunner().invoke(cli, ["-c", str(EXAMPLE), "k8s", "render", "--out",
                                      str(tmp_path), "--image", "registry.local/pusher:1"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "cronjob-gone.yaml").exists()
    job = yaml.safe_load((tmp_path / "cronjob-events.yaml").read_text())
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.local/pusher:1"
    stdout = CliRunner().invoke(cli, ["-c", str(EXAMPLE), "k8s", "render"])
    assert stdout.exit_code == 0
    kinds = [d["kind"] for d in yaml.safe_load_all(stdout.output)]
    assert kinds.count("CronJob") == len(enabled_example_sources())


def test_render_command_on_a_missing_config_exits_2(tmp_path):
    result = CliRunner().invoke(cli, ["-c", str(tmp_path / "nope.toml"), "k8s", "render"])
    assert result.exit_code == 2


def test_two_sources_with_one_object_name_are_a_config_error():
    text = EXAMPLE.read_text() + '\n[sources."web shop"]\ntype = "python"\n' \
        '[sources.web_shop]\ntype = "python"\n'
    with pytest.raises(ConfigError) as raised:
        render(text, "x.toml", Options(image="img:1"))
    assert str(raised.value) == ("x.toml: sources.web_shop: is CronJob pusher-web-shop too, "
                                 "like source 'web shop': rename one")
