"""Running the real `pusher` command in a subprocess, as cron would."""

import os
import subprocess
import sys
from pathlib import Path


def run_pusher(*args: str, config: Path | None = None, env: dict[str, str] | None = None,
               cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHER_")}
    full_env.update(env or {})
    command = [sys.executable, "-m", "pusher"]
    if config is not None:
        command += ["--config", str(config)]
    return subprocess.run([*command, *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=timeout, check=False)
