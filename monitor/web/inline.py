"""Routes whose plain (`def`) handlers run on the event loop instead of a thread pool.

FastAPI runs every `def` handler on a thread pool. For the pages analysts hit all day (the queue, an item,
the JSON API) the hop costs more than the work: the loop wakes a thread, the thread and the loop trade the
interpreter lock, and SQLite releases and re-takes that lock on every row it returns, so several threads
in one process spend their time waiting for each other. These handlers are short (a few indexed reads, a
template), so they run inline, one at a time per worker process; concurrency comes from the worker
processes (`web.workers`, one per core by default), as in a classic pre-fork server.

Handlers that can take long (password hashing at login, OCR of an upload, the reports page's sums, a
library import) are marked `@blocking` and keep the thread pool, so they never stall the other requests
of their worker.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi.routing import APIRoute

F = TypeVar("F", bound=Callable[..., Any])

BLOCKING_ATTR = "__misinfo_blocking__"


def blocking(fn: F) -> F:
    """Mark a `def` handler as slow: it keeps running on the thread pool."""
    setattr(fn, BLOCKING_ATTR, True)
    return fn


def _inline(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)  # keeps the signature FastAPI reads the parameters from (via __wrapped__)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return run


class InlineRoute(APIRoute):
    """An APIRoute whose `def` endpoint (unless marked @blocking) is called on the event loop."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint) and not getattr(endpoint, BLOCKING_ATTR, False):
            endpoint = _inline(endpoint)
        super().__init__(path, endpoint, **kwargs)
