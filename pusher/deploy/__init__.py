"""Deployment rendering: schedules as cron, Kubernetes manifests (pure, no I/O)."""
