"""The README's config reference says nothing a test does not show (issue 12, "Done when").

Each prose paragraph of its Configuration section names the tests that show it
(`<!-- test_file.py::test_name -->`, checked to exist here) or says it cannot be shown here;
the example config and the lists of keys are checked against the code itself.
"""

import ast
import re
import tomllib
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

from pusher.config import SOURCE_KEYS, InfluxConfig, parse_config
from pusher.reading import Granularity, Reading, Window

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r"<!-- (test_\w+\.py)::(test_\w+) -->")


def section(title: str = "## Configuration\n") -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(title)
    return text[start:text.index("\n## ", start + 1)]


def prose(text: str) -> list[str]:
    """Paragraphs that promise something: not headings, code, or a lead-in to code."""
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return [p for p in paragraphs if not p.startswith("#") and not p.endswith(":")]


def test_each_paragraph_of_the_config_reference_names_tests_that_exist():
    paragraphs = prose(section())
    assert len(paragraphs) >= 10
    for paragraph in paragraphs:
        references = REFERENCE.findall(paragraph)
        assert references or "cannot be shown here" in paragraph, paragraph[:200]
        for file, name in references:
            tree = ast.parse((ROOT / "tests" / file).read_text())
            defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
            assert name in defined, f"{file}::{name}"


def example() -> str:
    [block] = re.findall(r"```toml\n(.*?)```", section(), re.DOTALL)
    return block


def test_the_example_config_loads_and_states_the_real_defaults():
    data = tomllib.loads(example())
    config = parse_config(data, {"INFLUX_TOKEN": "t", "INFLUX_PASSWORD": "p"})
    assert set(config.sources) == {"prometheus", "custom"}
    # Every [influx] key is shown, and those the example does not set to a value of its
    # own are shown with the default the code has.
    assert set(data["influx"]) == {f.name for f in fields(InfluxConfig)}
    own = {"org", "daily_bucket", "token", "username", "password"}
    for item in fields(InfluxConfig):
        if item.name not in own:
            assert data["influx"][item.name] == item.default, item.name
    assert data["pusher"]["state_dir"] == ".pusher"
    assert "default UTC" in example() and config.timezone.key == "Europe/Paris"
    assert parse_config({}, {}).timezone.key == "UTC"


def test_the_keys_every_source_has_are_the_codes():
    [listed] = re.findall(r"Keys every source has: (.*?)\. The rest", section(), re.DOTALL)
    assert re.findall(r"`(\w+)`", listed) == list(SOURCE_KEYS)


def test_the_readme_signups_source_runs_as_written():
    [snippet] = re.findall(r"### Writing a source.*?```python\n(.*?)```", section(), re.DOTALL)
    counted = []
    namespace = {"count_rows": lambda *args: counted.append(args) or 7}
    exec(compile(snippet, "README.md", "exec"), namespace)
    window = Window.containing(datetime(2026, 11, 27, 10, tzinfo=UTC), Granularity.HOURLY)
    [reading] = namespace["signups"](window)
    assert reading == Reading("signups", {"count": 7}, {"table": "users"})
    assert counted == [("users", window.start, window.end)]
