"""Run `pusher ARGS...` in this process, then write its peak RSS (KiB) to $BENCH_RSS_FILE.

The peak is VmHWM from /proc/self/status, not getrusage's ru_maxrss: Linux carries
ru_maxrss over fork and exec, so a child of a big benchmark process would report the
parent's size instead of its own.
"""

from __future__ import annotations

import os
import resource
import sys

from pusher.cli import main


def peak_rss_kib() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def run() -> None:
    code: int | str | None = 0
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
    finally:
        with open(os.environ["BENCH_RSS_FILE"], "w") as out:
            out.write(str(peak_rss_kib()))
    sys.exit(code)


if __name__ == "__main__":
    run()
