"""Notify stage: the daily digest and surge alerts, rendered and delivered exactly once by SMTP."""
