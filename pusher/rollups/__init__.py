"""Daily rollups inside InfluxDB: render, install, backfill and verify them.

The `[rollups]` table itself is read by the config (pusher/config/rollups.py). May import
pusher.writers (HTTP answers), pusher.config and below; never the runs or dashboards.
"""
