"""The config file's folder on the import path, so `callable = "my_metrics:fn"` finds
my_metrics.py beside pusher.toml (python sources, and plugins' own modules)."""

from __future__ import annotations

import sys
from pathlib import Path

# Folders of config files appended to sys.path (python sources name them when a module is
# not found).
IMPORT_FOLDERS: list[str] = []


def add_import_folder(folder: Path) -> None:
    """Let python sources import modules that sit in `folder` (a config file's folder).

    Appended, not prepended: an installed package of the same name still wins.
    """
    entry = str(folder)
    if entry not in sys.path:
        sys.path.append(entry)
    if entry not in IMPORT_FOLDERS:
        IMPORT_FOLDERS.append(entry)
