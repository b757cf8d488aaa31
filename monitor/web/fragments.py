"""Rendered fragments reused while their inputs are unchanged (the queue's rows).

A queue page is 50 rows; analysts reload it after every decision, and the rows above and below the one
they decided are the same as a moment ago. Rendering a row costs ~60 µs of template work (every value
escaped, every label translated); looking it up costs ~3 µs. The key is everything the fragment is made
of — the row's values (state, version, suggestions, duplicate counts...), the language, the template
context flags and the return link — so a changed value is a different key: nothing is ever invalidated,
old entries just age out of a bounded LRU. One cache per worker process (app.state), nothing shared.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from markupsafe import Markup

DEFAULT_SIZE = 4096

# Template indentation: a run of white space that holds a line break renders as one space in HTML; kept as
# one line break it still does (the cached templates have no <pre> or <textarea>). A queue page is ~15%
# smaller for it, and its bytes are a fifth of the server's CPU per page (the socket write).
_INDENT = re.compile(r"\n\s+")


class Rendered(Markup):
    """HTML this app's template environment rendered: every value in it went through the environment's
    finalize (bidi controls removed), so printing it again need not scan it again (app.without_bidi)."""

    __slots__ = ()


_NESTED = (dict, list, tuple)


def freeze(value: Any) -> Hashable:
    """A hashable copy of a row value (dicts and lists become tuples, recursively)."""
    if isinstance(value, dict):
        return (tuple(value), tuple(v if type(v) not in _NESTED else freeze(v) for v in value.values()))
    if isinstance(value, list | tuple):
        return tuple(v if type(v) not in _NESTED else freeze(v) for v in value)
    return value  # type: ignore[no-any-return]


class FragmentCache:
    """Bounded LRU of rendered fragments keyed by (template, context key, frozen row)."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Rendered] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def render(
        self, env: Any, template: str, context_key: Hashable, row: dict[str, Any], **context: Any
    ) -> Markup:
        """The fragment for `row`: from the cache, or rendered with `context` (which `context_key` must
        determine: language, permissions, return link) and kept."""
        return self.render_keyed(env, template, (context_key, freeze(row)), lambda: {"r": row, **context})

    def render_keyed(
        self, env: Any, template: str, key: Hashable, make_context: Callable[[], dict[str, Any]]
    ) -> Markup:
        """The fragment for a `key` that determines it (e.g. a version of the rows it shows);
        `make_context` (the reads it needs) is called only when it is not cached."""
        full_key = (template, key)
        with self._lock:
            found = self._items.get(full_key)
            if found is not None:
                self._items.move_to_end(full_key)
                self.hits += 1
                return found
        html = Rendered(_INDENT.sub("\n", env.get_template(template).render(**make_context())))
        with self._lock:
            self.misses += 1
            self._items[full_key] = html
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return html

    def clear(self) -> None:
        """Drop every fragment (templates or translations reloaded)."""
        with self._lock:
            self._items.clear()
