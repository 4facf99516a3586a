"""What docs/design.md tells a source author, shown: options arrive as TOML gives them."""

from cli_helpers import run_pusher
from ops_helpers import write_config

SPAN = ("--dry-run", "--since", "2026-11-27T10:00:00Z", "--until", "2026-11-27T11:00:00Z")


def test_a_type_hint_converts_no_option(tmp_path):
    (tmp_path / "toy_readers.py").write_text('''
from pusher import Reading


def constant(window, value: float = 1.0):
    """One reading of `value` per window."""
    yield Reading("toy", {"value": value}, {})
''')
    sources = "\n".join(f'[sources.{name}]\ntype = "python"\ncallable = "toy_readers:constant"\n'
                        f"value = {value}\n" for name, value in (("whole", "3"),
                                                                  ("decimal", "3.0")))
    config = write_config(tmp_path, "http://127.0.0.1:9", "db", sources)
    whole = run_pusher("collect", "whole", *SPAN, config=config)
    decimal = run_pusher("collect", "decimal", *SPAN, config=config)
    assert whole.stdout.splitlines() == ["toy,granularity=hourly value=3i 1795773600"]
    assert decimal.stdout.splitlines() == ["toy,granularity=hourly value=3.0 1795773600"]
