"""Pure ML: text in, scores out. Never imports `monitor`."""
