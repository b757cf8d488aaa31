"""The offline demo: fixture servers, a throw-away workspace, the pipeline run end to end, synthetic data."""
