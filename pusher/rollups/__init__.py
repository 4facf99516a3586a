"""Daily rollups inside InfluxDB: render, install, backfill and verify them.

Kept import-free: pusher.config imports pusher.rollups.config at start-up.
"""
