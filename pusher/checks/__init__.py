"""`pusher validate`: the config, every source and InfluxDB, each checked and told in one line.

validate.py runs the checks; probe.py runs a source once on a tiny recent window, as
collect would; influx_access.py knows the least privilege of a 2.x token. May import the
runs (pusher/runs/), pusher.rollups, pusher.writers, pusher.sources and everything below;
never the commands or pusher.scheduling.
"""
