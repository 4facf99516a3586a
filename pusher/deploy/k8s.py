"""Kubernetes manifests from a pusher config: ConfigMaps, a Secret, a setup Job, CronJobs."""

from __future__ import annotations

import copy
import math
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pusher.deploy.schedules import SourceJob, enabled_sources, timeout_grace, to_cron
from pusher.errors import ConfigError
from pusher.secrets import is_secret_name, variables

CONFIG_DIR = "/etc/pusher"
STATE_DIR = "/var/lib/pusher"
UID = 10001  # the image's `pusher` user (see Dockerfile)
PLACEHOLDER = "change-me"
CONFIG_MAP, ENV_MAP, SECRET = "pusher-config", "pusher-env", "pusher-secrets"
# CronJobs start a few minutes past the hour so the window just ended has settled.
DELAY_MINUTES = 5
# A usage or config error (exit 2) fails the Job at once: a retry would only fail again.
# Needs restartPolicy Never; Kubernetes >= 1.26 (beta, on by default; GA in 1.31).
FAIL_ON_USAGE_ERROR = {"rules": [{"action": "FailJob", "onExitCodes": {
    "containerName": "pusher", "operator": "In", "values": [2]}}]}
RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"},
             "limits": {"cpu": "500m", "memory": "512Mi"}}

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Options:
    image: str
    namespace: str | None = None


def render(text: str, file: str, options: Options) -> dict[str, list[Manifest]]:
    """Manifests by file name for the config `text` (read from `file`), in apply order."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=file) from None
    timezone = str(data.get("pusher", {}).get("timezone", "UTC"))
    files: dict[str, list[Manifest]] = {
        "config.yaml": [_config_map(text, options), _env_map(text, options)],
        "secret.yaml": [_secret(text, options)],
        "setup-job.yaml": [_setup_job(options)],
    }
    owners: dict[str, str] = {}
    grace = timeout_grace(data, file)
    for job in enabled_sources(data, file):
        name = dns_name(job.name)
        if name in owners:  # one CronJob would silently replace the other
            raise ConfigError(f"is CronJob pusher-{name} too, like source {owners[name]!r}: "
                              "rename one", file=file, key=f"sources.{job.name}")
        owners[name] = job.name
        files[f"cronjob-{name}.yaml"] = [_cron_job(job, timezone, options, grace)]
    files["kustomization.yaml"] = [_kustomization(files, options)]
    return files


def dns_name(name: str) -> str:
    """A source name as a Kubernetes object name (lowercase, digits and dashes)."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return cleaned[:40] or "source"


def with_state_dir(text: str, state_dir: str) -> str:
    """The config text with `[pusher] state_dir` set, keeping every other line as written."""
    lines, table, done = text.splitlines(), "", False
    setting = f'state_dir = "{state_dir}"  # set by `pusher k8s render`'
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("["):
            table = stripped.strip("[] ")
        elif table == "pusher" and re.match(r"state_dir\s*=", stripped):
            lines[index], done = setting, True
    if not done:
        headers = [i for i, line in enumerate(lines) if line.strip() == "[pusher]"]
        if headers:
            lines.insert(headers[0] + 1, setting)
        else:
            lines += ["", "[pusher]", setting]
    return "\n".join(lines) + "\n"


def environment(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """The ${VAR}s the config uses, split into (plain values, secrets), with placeholders."""
    plain: dict[str, str] = {}
    secret: dict[str, str] = {}
    for name, default in variables(_uncommented(text)):
        # A default carrying credentials (scheme://user:pass@host) is a secret too. A
        # default is in the config already, so it is no secret; the rest are placeholders.
        target = secret if is_secret_name(name) or "@" in (default or "") else plain
        target.setdefault(name, default or PLACEHOLDER)
    return dict(sorted(plain.items())), dict(sorted(secret.items()))


def _uncommented(text: str) -> str:
    # Only values count: a ${VAR} in a comment is not something the config needs.
    data = tomllib.loads(text)
    return "\n".join(_strings(data))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _metadata(name: str, options: Options, component: str, **labels: str) -> Manifest:
    meta: Manifest = {"name": name}
    if options.namespace:
        meta["namespace"] = options.namespace
    meta["labels"] = {"app.kubernetes.io/name": "pusher",
                      "app.kubernetes.io/component": component, **labels}
    return meta


def _config_map(text: str, options: Options) -> Manifest:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _metadata(CONFIG_MAP, options, "config"),
            "data": {"pusher.toml": with_state_dir(text, STATE_DIR)}}


def _env_map(text: str, options: Options) -> Manifest:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _metadata(ENV_MAP, options, "config"),
            "data": environment(with_state_dir(text, STATE_DIR))[0]}


def _secret(text: str, options: Options) -> Manifest:
    # The variables of the config as mounted: the state_dir line is render's own.
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": _metadata(SECRET, options, "config"),
            "type": "Opaque", "stringData": environment(with_state_dir(text, STATE_DIR))[1]}


def _pod_spec(args: list[str]) -> Manifest:
    """A pod running the image's `pusher` entrypoint with `args`, non-root, read-only root."""
    container = {
        "name": "pusher", "image": "IMAGE", "args": args,
        "env": [{"name": "PUSHER_CONFIG", "value": f"{CONFIG_DIR}/pusher.toml"}],
        "envFrom": [{"configMapRef": {"name": ENV_MAP}}, {"secretRef": {"name": SECRET}}],
        "resources": copy.deepcopy(RESOURCES),
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                         {"name": "state", "mountPath": STATE_DIR},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID,
                            "fsGroup": UID, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        # No volume for state: watermarks are read back from InfluxDB on each run.
        "volumes": [{"name": "config", "configMap": {"name": CONFIG_MAP}},
                    {"name": "state", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
    }


def _with_image(spec: Manifest, image: str) -> Manifest:
    spec["containers"][0]["image"] = image
    return spec


def _setup_job(options: Options) -> Manifest:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": _metadata("pusher-setup", options, "setup"),
            "spec": {"backoffLimit": 4, "podFailurePolicy": FAIL_ON_USAGE_ERROR,
                     "ttlSecondsAfterFinished": 86400,
                     "template": {"metadata": {"labels": {"app.kubernetes.io/name": "pusher"}},
                                  "spec": _with_image(_pod_spec(["setup"]), options.image)}}}


def run_limits(job: SourceJob, period: int | None, grace: float) -> tuple[int, int]:
    """(activeDeadlineSeconds, the run's --timeout) of a source's CronJob, in seconds.

    The deadline leaves the grace above the run's own timeout, so the run stops its source
    and records that before Kubernetes kills the pod, and stays under the period (at most
    90% of it): with concurrencyPolicy Forbid a late run skips the next, never stacks. The
    run's timeout is the source's `timeout` where it fits; by default, 90% of the period up
    to an hour, less the grace. A grace of more than half of that room is cut to half.
    """
    period = period or 3600
    room = int(period * 0.9)
    grace = min(grace, room / 2)
    wanted = job.timeout or min(period, 3600) * 0.9 - grace
    timeout = max(1, int(min(wanted, room - grace)))
    return timeout + math.ceil(grace), timeout


def _cron_job(job: SourceJob, timezone: str, options: Options, grace: float) -> Manifest:
    schedule = to_cron(job.schedule, job.granularity, DELAY_MINUTES)
    deadline, timeout = run_limits(job, schedule.period, grace)
    labels = {"pusher/source": dns_name(job.name)}
    pod = _with_image(_pod_spec(["collect", job.name, "--timeout", str(timeout)]),
                      options.image)
    return {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": _metadata(f"pusher-{dns_name(job.name)}", options, "collect", **labels),
        "spec": {
            "schedule": schedule.cron, "timeZone": timezone,
            "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {
                "backoffLimit": 2, "podFailurePolicy": FAIL_ON_USAGE_ERROR,
                "activeDeadlineSeconds": deadline,
                "ttlSecondsAfterFinished": 86400,
                "template": {"metadata": {"labels": {"app.kubernetes.io/name": "pusher",
                                                     **labels}},
                             "spec": pod}}},
        },
    }


def _kustomization(files: Mapping[str, list[Manifest]], options: Options) -> Manifest:
    kustomization: Manifest = {"apiVersion": "kustomize.config.k8s.io/v1beta1",
                               "kind": "Kustomization"}
    if options.namespace:
        kustomization["namespace"] = options.namespace
    kustomization["resources"] = list(files)
    return kustomization


def to_yaml(manifests: list[Manifest]) -> str:
    """Manifests as one YAML stream; multi-line strings (the config) as literal blocks."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True  # shared dicts written out in full: no &id001 anchors

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return "---\n".join(yaml.dump(m, Dumper=Dumper, sort_keys=False, width=100)
                        for m in manifests)
