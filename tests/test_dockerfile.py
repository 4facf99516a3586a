"""The Dockerfile and its lock: pins that satisfy setup.cfg, paths the other deployments use,
and the `pusher health` command its HEALTHCHECK runs."""

from __future__ import annotations

import configparser
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import dockerfile
import pytest
from click.testing import CliRunner
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from pusher.cli import cli
from pusher.deploy import k8s

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
# Parsed by BuildKit's own Dockerfile parser (the `dockerfile` package wraps it).
COMMANDS = dockerfile.parse_string(DOCKERFILE)
INSTRUCTIONS = {"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM",
                "HEALTHCHECK", "LABEL", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER",
                "VOLUME", "WORKDIR"}
LOCK = ROOT / "requirements.lock"


def setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return parser


def requirements(section: str, key: str) -> list[Requirement]:
    text = setup_cfg()[section][key]
    return [Requirement(line) for line in text.splitlines() if line.strip()]


def pins() -> dict[str, Version]:
    found: dict[str, Version] = {}
    for line in LOCK.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+)", line.strip())
        assert match, f"requirements.lock: not an exact pin: {line!r}"
        name = canonicalize_name(match.group(1))
        assert name not in found, f"requirements.lock: {name} pinned twice"
        found[name] = Version(match.group(2))
    return found


def test_the_lock_pins_satisfy_every_runtime_requirement():
    locked = pins()
    wanted = (requirements("options", "install_requires")
              + requirements("options.extras_require", "all"))
    problems = []
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        if name not in locked:
            problems.append(f"{requirement} is not pinned")
        elif locked[name] not in requirement.specifier:
            problems.append(f"{requirement} but the lock pins {locked[name]}")
    assert not problems, "regenerate with `bash scripts/lock.sh`: " + "; ".join(problems)


def test_the_all_extra_covers_every_runtime_extra():
    # The image installs pusher[all] from the lock: every optional source must be in it.
    extras = setup_cfg()["options.extras_require"]
    everything = {str(r) for r in requirements("options.extras_require", "all")}
    for extra in extras:
        if extra in ("all", "dev"):
            continue
        missing = {str(r) for r in requirements("options.extras_require", extra)} - everything
        assert not missing, f"extra {extra!r}: {sorted(missing)} not in `all`"


def test_the_lock_does_not_pin_pusher_or_dev_tools():
    locked = pins()
    assert "pusher" not in locked
    def names(section: str, key: str) -> set[str]:
        return {canonicalize_name(r.name) for r in requirements(section, key)}

    runtime = names("options", "install_requires") | names("options.extras_require", "all")
    dev_only = names("options.extras_require", "dev") - runtime
    assert dev_only and not dev_only & set(locked)


def commands(name: str) -> list[dockerfile.Command]:
    return [c for c in COMMANDS if c.cmd == name]


def test_dockerfile_parses_and_every_run_is_valid_shell():
    assert {c.cmd for c in COMMANDS} <= INSTRUCTIONS
    for run in commands("RUN"):
        assert not run.json
        check = subprocess.run(["sh", "-n", "-c", run.value[0]], capture_output=True, text=True)
        assert check.returncode == 0, f"line {run.start_line}: {check.stderr}"


def test_dockerfile_is_multi_stage_slim_and_installs_only_the_locked_wheels():
    stages = [c.value for c in commands("FROM")]
    assert stages == [("${PYTHON_IMAGE}", "AS", "builder"), ("${PYTHON_IMAGE}",)]
    assert commands("ARG")[0].value == ("PYTHON_IMAGE=python:3.11-slim-bookworm",)
    runs = [c.value[0] for c in commands("RUN")]
    assert runs[0] == "pip wheel --wheel-dir /wheels --requirement requirements.lock"
    # The final stage resolves from the built wheels only: nothing unpinned sneaks in.
    final = commands("RUN")[-1]
    assert final.flags == ("--mount=type=bind,from=builder,source=/wheels,target=/wheels",)
    assert final.value[0].startswith("pip install --no-index --find-links /wheels ")
    assert "! -name 'analyticsdata.*' -delete" in final.value[0]


def test_dockerfile_runs_pusher_as_a_non_root_user_with_the_documented_paths():
    [entrypoint] = commands("ENTRYPOINT")
    assert entrypoint.json and entrypoint.value == ("pusher",)
    assert [c.value for c in commands("USER")] == [(f"{k8s.UID}:{k8s.UID}",)]
    assert f"--uid {k8s.UID}" in commands("RUN")[-1].value[0]
    env = dict(zip(*[iter(commands("ENV")[-1].value)] * 2, strict=True))
    assert env["PUSHER_CONFIG"] == f"{k8s.CONFIG_DIR}/pusher.toml"
    assert [c.value for c in commands("VOLUME")] == [(k8s.STATE_DIR,)]
    [healthcheck] = commands("HEALTHCHECK")
    assert healthcheck.value[:3] == ("CMD", "pusher", "health")


def test_dockerignore_sends_the_package_and_nothing_else():
    # docker-py's port of Docker's .dockerignore matcher gives the build context's files.
    from docker.utils.build import exclude_paths

    patterns = [line for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    context = exclude_paths(str(ROOT), patterns, dockerfile="Dockerfile")
    for needed in ("pusher/cli.py", "pusher/deploy/k8s.py", "setup.cfg", "pyproject.toml",
                   "README.md", "requirements.lock", "examples/pusher-crawler/pyproject.toml"):
        assert needed in context, f".dockerignore keeps {needed} out of the build"
    tops = {path.split("/")[0] for path in context}
    assert tops <= {"pusher", "examples", "setup.cfg", "pyproject.toml", "README.md",
                    "LICENSE", "requirements.lock", "Dockerfile", ".dockerignore"}
    assert not [path for path in context if "__pycache__" in path or ".egg-info" in path]


@pytest.fixture
def state_config(tmp_path: Path) -> Path:
    config = tmp_path / "pusher.toml"
    config.write_text('[pusher]\nstate_dir = "state"\n[influx]\nurl = "http://127.0.0.1:9"\n')
    (tmp_path / "state").mkdir()
    return config


def health(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["-c", str(config), "health", *args])
    return result.exit_code, result.output


def test_health_is_ok_with_a_fresh_heartbeat(state_config: Path):
    (state_config.parent / "state" / "heartbeat").touch()
    code, output = health(state_config)
    assert code == 0, output
    assert output.startswith("ok: heartbeat ")


def test_health_fails_on_a_stale_or_missing_heartbeat(state_config: Path):
    code, output = health(state_config)
    assert code == 1 and "no heartbeat" in output
    beat = state_config.parent / "state" / "heartbeat"
    beat.touch()
    old = time.time() - 1800
    os.utime(beat, (old, old))
    code, output = health(state_config)
    assert code == 1 and re.search(r"is 18\d\ds old \(limit 600s\)", output), output
    code, output = health(state_config, "--max-age", "1h")
    assert code == 0, output


def test_health_refuses_a_bad_max_age(state_config: Path):
    code, output = health(state_config, "--max-age", "soon")
    assert code == 2 and "not a span" in output


def test_a_running_scheduler_keeps_the_healthcheck_green(tmp_path: Path):
    # The contract with `pusher run`: it touches <state_dir>/heartbeat on every loop.
    (tmp_path / "hb_source.py").write_text(
        "from pusher.reading import Reading\n"
        "def one(window):\n    yield Reading('hb', {'n': 1})\n")
    config = tmp_path / "pusher.toml"
    config.write_text('[pusher]\nstate_dir = "state"\n'
                      '[influx]\nurl = "http://127.0.0.1:9"\napi = "v1"\nretries = 0\n'
                      '[sources.hb]\ntype = "python"\ncallable = "hb_source:one"\n'
                      'schedule = "every 1h"\n')
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    scheduler = subprocess.Popen([sys.executable, "-m", "pusher", "-c", str(config), "run"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(600):  # bounded: the loop beats within seconds of starting
            code, output = health(config)
            if code == 0 or scheduler.poll() is not None:
                break
            time.sleep(0.05)
        assert code == 0, output
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(timeout=60) == 0
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
            scheduler.wait()
        assert scheduler.stderr is not None
        scheduler.stderr.close()
