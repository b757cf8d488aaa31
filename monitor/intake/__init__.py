"""Intake beyond feeds: analysts' submissions (links, pasted text, screenshots) and OCR of images."""
