"""A run's life: which windows (catchup), one source over them (pipeline), its record.

- catchup.py: one run of one source: from its watermark, which windows; collected window
  by window; the run logged.
- pipeline.py: one source over its windows: readings -> points -> a sink, and a RunRecord.
- history.py: the pusher_runs point, watermarks.json and runs.json (the state directory).
- history_query.py: watermarks and last runs read back from InfluxDB.
- collect.py: the library behind `pusher collect`; backfill.py, status.py: their commands'.

May import pusher.writers, pusher.sources, pusher.config, pusher.points and the modules
below them; never pusher.dashboards, pusher.rollups, the scheduling or the commands.
"""
