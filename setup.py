"""The optional compiled point loop (pusher/points/_speedups.c); the rest is in setup.cfg.

Without a C compiler (or Python headers) the extension is skipped with a warning and pusher
runs its pure-Python loop, which writes the same bytes (docs/performance.md).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("pusher.points._speedups", ["pusher/points/_speedups.c"],
                             optional=True, extra_compile_args=["-O2"])])
