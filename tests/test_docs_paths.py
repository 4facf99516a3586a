"""Docs follow the code: every file of the repository and every pusher name the docs give
exists (a moved module is a broken link in a page a newcomer reads first)."""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md"),
                *(ROOT / "examples").glob("*/README.md")])
# A path into the repository: a top folder of it, then a file with an extension or a folder.
TOPS = ("pusher", "tests", "docs", "scripts", "platforms", "examples", "benchmarks",
        "grafana", "influx")
PATH = re.compile(r"(?<![\w./$~-])((?:" + "|".join(TOPS) + r")/[\w./-]*)")
# pusher.NAME...: a module, or a name in one. pusher.toml and the like are file names;
# pusher.hourly.events is a retention policy's measurement (docs/rollups.md).
DOTTED = re.compile(r"(?<![\w./-])pusher(?:\.[A-Za-z_]\w*)+")
NOT_NAMES = {"toml", "yaml", "hourly", "daily"}


def named_paths(text: str) -> set[str]:
    found = set()
    for path in PATH.findall(text):
        path = path.rstrip(".")
        last = path.rsplit("/", 1)[-1]
        if path.endswith("/") or "." in last:  # pusher/hourly is a bucket, not a path
            found.add(path)
    return found


def resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(target, name):
                return False
            target = getattr(target, name)
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_path_a_page_names_exists(page):
    missing = [path for path in sorted(named_paths(page.read_text()))
               if not (ROOT / path).exists()]
    assert not missing, f"{page.relative_to(ROOT)} names {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_pusher_name_a_page_gives_exists(page):
    names = {name.rstrip(".") for name in DOTTED.findall(page.read_text())}
    unknown = sorted(name for name in names
                     if name.split(".")[1] not in NOT_NAMES and not resolves(name))
    assert not unknown, f"{page.relative_to(ROOT)} names {unknown}"


def test_a_moved_module_is_caught():
    text = "see `pusher/runlog.py` and `pusher.runlog.RUN_FIELDS`; pusher/hourly is a bucket"
    assert named_paths(text) == {"pusher/runlog.py"}
    assert not (ROOT / "pusher/runlog.py").exists()
    assert not resolves("pusher.runlog.RUN_FIELDS")
    assert resolves("pusher.points.pusher_runs.RUN_FIELDS")
