"""The command group loads a command's module only when that command is used."""

import os
import subprocess
import sys
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pusher.cli import COMMANDS, cli
from pusher.errors import ConfigError
from pusher.sources import ENTRY_POINT_GROUP, OWN_TYPES


def loaded(reference):
    module, _, attribute = reference.partition(":")
    return getattr(import_module(module), attribute)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_summary_is_its_commands_own_first_paragraph(name):
    reference, summary = COMMANDS[name]
    command = loaded(reference)
    assert command.name == name
    assert summary == command.help.split("\n\n")[0], (
        f"pusher.cli.COMMANDS[{name!r}]: the summary `pusher --help` lists must be the first "
        "paragraph of the command's docstring")


@pytest.mark.parametrize("width", [60, 80, 120])
def test_help_lists_the_commands_exactly_as_an_eager_group(width):
    eager = click.Group(name=cli.name, callback=cli.callback, params=cli.params, help=cli.help,
                        context_settings=cli.context_settings,
                        commands={name: loaded(ref) for name, (ref, _) in COMMANDS.items()})
    lazy_help = CliRunner().invoke(cli, ["--help"], terminal_width=width).output
    eager_help = CliRunner().invoke(eager, ["--help"], terminal_width=width).output
    assert lazy_help == eager_help and "collect " in lazy_help


def imported_by(*args, env=None):
    """The pusher.commands modules and the heavy modules a command imports, in a fresh process."""
    script = f"""
import sys
from pusher.cli import main
try:
    main({list(args)!r})
except SystemExit:
    pass
print(sorted(m for m in sys.modules if m.startswith("pusher.commands.")
             or m in ("requests", "importlib.metadata", "pusher.writers.batches",
                      "pusher.writers.spool", "pusher.writers.deadletter",
                      "pusher.writers.delivery")))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False, env=env)
    *printed, modules = done.stdout.strip().splitlines()
    return modules, printed


def test_help_imports_no_command_module():
    modules, printed = imported_by("--help")
    assert modules == "[]" and "Commands:" in printed


def test_a_command_imports_only_its_own_module(tmp_path):
    config = tmp_path / "pusher.toml"
    config.write_text(f"""
[pusher]
state_dir = "{tmp_path / 'state'}"
[influx]
url = "http://127.0.0.1:9"
api = "v1"
database = "db"
[sources.tiny]
type = "python"
callable = "demo_readers:counts"
""")
    # A dry run of a python source needs neither requests nor the entry-point scan, nor the
    # spool, the dead-letter file or delivery.
    env = os.environ | {"PYTHONPATH": str(Path(__file__).parent / "plugins")}
    modules, printed = imported_by("-c", str(config), "collect", "tiny", "--dry-run", env=env)
    assert modules == "['pusher.commands.basics']"
    assert len(printed) == 6 and printed[0].startswith("demo,granularity=hourly")
    assert imported_by("k8s", "--help")[0] == "['pusher.commands.deploy']"


def test_an_unknown_command_is_named():
    result = CliRunner().invoke(cli, ["colect"])
    assert result.exit_code == 2 and "No such command 'colect'" in result.output


def test_own_source_types_are_the_ones_setup_cfg_registers():
    registered = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)
                  if ep.dist is not None and ep.dist.name == "pusher"}
    assert registered == OWN_TYPES


def test_own_types_load_without_the_entry_point_scan():
    from pusher.sources import available_types, load_source
    from pusher.sources.prometheus import prometheus

    available_types.cache_clear()
    assert load_source("prometheus") is prometheus
    assert available_types.cache_info().misses == 0  # no scan of the installed packages
    with pytest.raises(ConfigError, match="unknown source type 'nope'"):
        load_source("nope")
    assert available_types.cache_info().misses == 1
