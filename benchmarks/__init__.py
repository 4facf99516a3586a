"""Throughput, memory and start-up figures of pusher, each against a baseline of the same run."""
