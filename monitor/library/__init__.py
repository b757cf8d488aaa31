"""Rebuttal library: import (YAML, JSON, CSV, ClaimReview) and export as ClaimReview JSON-LD."""
