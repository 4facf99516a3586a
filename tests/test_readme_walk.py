"""The README's quick start, walked as a new user would (issue 12, "Done when"): a fresh clone,
the README's own commands in order, a python source written beside the config, and the
point read back from a real InfluxDB 1.x. No command that is not in the README.

The one change: the README's InfluxDB (127.0.0.1:8086) is the test's server on a free port.
The install step is the README's too (`pip install -e .` into a new venv, from PyPI).
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_URL = "http://127.0.0.1:8086"


def quick_start() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Quick start: your first config\n")
    return text[start:text.index("\n## ", start + 1)]


def blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, re.DOTALL)


def walk_script(influx_url: str) -> str:
    """The README's shell blocks in order; the python block written where the text says."""
    install, init, run = blocks(quick_start(), "sh")
    [source] = blocks(quick_start(), "python")
    script = (f"set -euo pipefail\n{install}{init}"
              f"cat > my_metrics.py <<'PUSHER_EOF'\n{source}PUSHER_EOF\n{run}")
    return script.replace(README_URL, influx_url)


def test_the_quick_start_has_the_steps_the_walk_needs():
    script = walk_script(README_URL)
    steps = [line.split()[:2] for line in script.splitlines() if line.startswith("pusher ")]
    assert steps == [["pusher", "init"], ["pusher", "setup"], ["pusher", "validate"],
                     ["pusher", "collect"]]


@pytest.mark.slow
def test_a_new_user_follows_the_readme_from_a_fresh_clone(tmp_path, influxdb1):
    clone = tmp_path / "pusher"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PUSHER_", "VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if ".venv" not in p)
    result = subprocess.run(["bash", "-c", walk_script(influxdb1.url)], cwd=clone, env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    validated = [line for line in result.stdout.splitlines() if line.startswith(("ok ", "FAIL"))]
    assert validated[2].startswith("ok   source disk (python): 1 row -> files (fields bytes, "
                                   "count; tags path)"), validated
    # The point, as the README's own curl shows it.
    answer = result.stdout.splitlines()[-1]
    assert '"name":"files"' in answer and '"count"' in answer, answer
    assert influxdb1.select('SELECT "count" FROM "files"', db="pusher")
