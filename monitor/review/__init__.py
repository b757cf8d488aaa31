"""The review stage: what people decide about flagged items and rebuttals, and who may decide it.

roles (the one roles table and its capabilities), queue (link/dismiss/escalate rules), assignments
(transitions, due dates), library (draft/approve/retire rules), service (what the JSON API and the HTML
pages both call). The store below keeps only SQL and receives values validated here.
"""
