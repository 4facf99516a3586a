"""The layout of pusher/ (docs/design.md): packages by job, layers that CI checks.

The contracts are in .importlinter; `lint-imports` checks them in scripts/test.sh. These
tests show that every package is under a contract, that the contracts hold, and that they
do fail when an import breaks them (on a copy of the package).
"""

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pusher"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def contract_names() -> set[str]:
    """Every module or package that a contract of .importlinter names."""
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    names = set()
    for section in config.sections():
        for key in ("layers", "modules", "ancestors"):
            for line in config[section].get(key, "").split():
                names.update(part.strip("()") for part in line.split("|") if part.strip())
    return names - {""}


def own_parts() -> set[str]:
    """The packages and modules standing directly in pusher/."""
    parts = {f"pusher.{p.name}" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    parts |= {f"pusher.{p.stem}" for p in PACKAGE.glob("*.py")
              if p.name not in ("__init__.py", "__main__.py")}
    return parts


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(root)}, check=False)


def test_every_package_and_module_of_pusher_is_named_in_a_contract():
    assert own_parts() <= contract_names(), own_parts() - contract_names()


def test_at_most_ten_modules_stand_directly_in_pusher():
    modules = [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py",
                                                                     "__main__.py")]
    assert len(modules) <= 10, sorted(modules)


def test_the_contracts_hold():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(("module", "line", "broken", "named"), [
    ("points/lineprotocol.py", "import pusher.cli", "Layers",
     "pusher.points.lineprotocol -> pusher.cli"),
    ("sources/aggregate.py", "import pusher.writers", "Sources and writers",
     "pusher.sources.aggregate -> pusher.writers"),
    ("runs/status.py", "import pusher.dashboards", "Dashboards and runs",
     "pusher.runs.status -> pusher.dashboards"),
    ("writers/spool.py", "import pusher.writers.batches", "No import circle",
     ".spool -> .batches"),
])
def test_an_import_against_a_contract_breaks_it(tmp_path, module, line, broken, named):
    shutil.copytree(PACKAGE, tmp_path / "pusher", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path)
    with open(tmp_path / "pusher" / module, "a") as code:
        code.write(f"\n{line}  # against the contract\n")
    done = lint_imports(tmp_path)
    assert done.returncode == 1, done.stdout[-3000:]
    report = done.stdout[done.stdout.index("Broken contracts"):]
    assert f"\n{broken}" in report and named in report


def test_the_pre_commit_hooks_are_local_and_run_the_checks_of_the_test_command():
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"]
    assert [repo["repo"] for repo in hooks] == ["local"]  # nothing to fetch
    entries = [hook["entry"].split()[0] for hook in hooks[0]["hooks"]]
    assert all(hook["language"] == "system" for hook in hooks[0]["hooks"])
    test_command = (ROOT / "scripts" / "test.sh").read_text()
    checks = [line.split()[0] for line in test_command.splitlines()
              if line.startswith(".venv/bin/") and "pytest" not in line]
    assert entries == checks == [".venv/bin/ruff", ".venv/bin/mypy", ".venv/bin/lint-imports"]
    assert all((ROOT / entry).exists() for entry in entries)
