"""README's Reliability section: every line names a test, and every named test exists."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r"<!-- (test_\w+\.py)::(test_\w+) -->")


def section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Reliability\n")
    return text[start:text.index("\n## ", start + 1)]


def test_each_promise_of_the_reliability_section_names_a_test_that_exists():
    bullets = [b for b in re.split(r"\n- ", section())[1:]]
    assert len(bullets) >= 10
    for bullet in bullets:
        references = REFERENCE.findall(bullet)
        assert references or "cannot be shown here" in bullet, bullet
        for file, name in references:
            tree = ast.parse((ROOT / "tests" / file).read_text())
            defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
            assert name in defined, f"{file}::{name}"
