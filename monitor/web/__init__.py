"""The review web app: FastAPI + Jinja2 + htmx, server-rendered, with a JSON API beside it."""
