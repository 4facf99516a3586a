"""Points: how readings become InfluxDB line protocol, and the schema of pusher's own point.

Pure, no I/O, and the hot path of every run: the encoder (lineprotocol.py), the check for
readings of one window that land on the same point (collisions.py), the per-point loop
that appends a window's lines to a batch (pointloop.py; _speedups.c is the same loop
compiled, used where it was built), and pusher_runs.py, the one place the
pusher_runs point's schema is written down (the run history writes it, the dashboards and
the watermark query read it), and quoting.py, the one place a user-given name is quoted
for InfluxQL or Flux text and checked against the names InfluxDB refuses. It imports only
pusher.reading, pusher.errors and pusher.excerpt; the config, the writers, the runs and the
dashboards import it.
"""
