"""pusher: business and quality-of-service numbers into InfluxDB, rolled up, on Grafana."""

from pusher.errors import PusherError
from pusher.reading import Granularity, Reading, Window

__version__ = "0.1.0"
__all__ = ["Granularity", "PusherError", "Reading", "Window", "__version__"]
