"""misinfo-monitor: collect, classify, review and answer false claims about a monitored programme."""

__version__ = "0.1.0"
