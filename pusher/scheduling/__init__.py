"""`pusher run`: the scheduler loop (scheduler.py) and its wiring (daemon.py).

Each run of a source is a child process (`python -m pusher collect NAME`) with its timeout;
the daemon adds the heartbeat, the spool flushes and the signals. May import the runs
(pusher/runs/) and everything below; never the commands or pusher.checks.
"""
