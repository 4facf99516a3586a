"""A sink that keeps what the pipeline hands it: the pipeline's own logic under test, not a
server's."""

from pusher.writers.sinks import SinkCounts


class Lines:
    """Keeps each line and its granularity (`added`); `lines` are the lines alone."""

    def __init__(self):
        self.added = []

    @property
    def lines(self):
        return [line for line, _ in self.added]

    def add(self, line, granularity):
        self.added.append((line, granularity))

    def close(self):
        return SinkCounts(written=len(self.added))
