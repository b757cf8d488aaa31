"""Match stage: suggest approved rebuttals for flagged items (hybrid retrieval + learned re-ranker)."""
