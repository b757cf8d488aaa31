"""Group stage: flagged items no approved rebuttal answers, grouped by meaning (see monitor.group.run)."""
