"""Run `pusher ARGS...` in this process, then write its peak RSS (KiB) to $BENCH_RSS_FILE."""

from __future__ import annotations

import os
import resource
import sys

from pusher.cli import main


def run() -> None:
    code: int | str | None = 0
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
    finally:
        with open(os.environ["BENCH_RSS_FILE"], "w") as out:  # Linux: ru_maxrss is in KiB
            out.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
    sys.exit(code)


if __name__ == "__main__":
    run()
