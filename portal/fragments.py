"""Rendered page parts kept per worker process, keyed by exactly what they show.

(Also the immutable rows a live part is rendered from, when those rows are
fixed by the key: e.g. a plan's unseen revisions, which are append-only.)

A fragment's key names the version of the data it renders (e.g. a plan's
version and the time it was last changed, read in the same request that asks
for the fragment) and everything about the viewer that changes the markup
(who they are, their relation, their scopes). Data that changes gets a new
version in the same transaction as the change, so a key never points at
markup older than the data it names: there is nothing to invalidate, and
several workers each holding their own copies cannot disagree.

Rules for what may go in a fragment:

- Nothing that depends on the time of the request ("2 hours ago"), on the
  session (CSRF tokens: render `CSRF_SLOT` instead; `fill_csrf` puts the
  request's token in), or on per-reader state (unread marks), unless the key
  names it (the plan's "ago" texts, a goal page's unread marks).
- Inside `slots()`, `csrf_token()` renders `CSRF_SLOT` and the entry forms'
  `new_key()` renders `KEY_SLOT`; `fill_slots` puts the request's token and a
  fresh idempotency key per form in.
- Only what the key's viewer may see: the key always includes the actor and
  their scopes, so one user's fragment is never served to another.

The cache lives in the worker's memory only (it holds what the worker has
just rendered for its own responses), is bounded in entries and bytes
(FRAGMENT_CACHE_SIZE, FRAGMENT_CACHE_BYTES; least recently used out),
and is emptied by `clear()`, e.g. between tests or after a database restore.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, g, render_template, request, session
from markupsafe import Markup

# Stand in for the request's CSRF token, and for a fresh idempotency key, in a cached fragment.
CSRF_SLOT = Markup("\x00csrf\x00")
KEY_SLOT = Markup("\x00key\x00")

DEFAULT_SIZE = 1024  # entries
DEFAULT_BYTES = 8 * 1024 * 1024  # about: the worker's memory budget for kept parts
ROW_BYTES = 256  # what one kept row is counted as


def _cost(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple):
        return ROW_BYTES * max(1, len(value))
    return ROW_BYTES


class FragmentCache:
    """A bounded, thread-safe LRU of rendered markup (or the immutable rows it is made of).

    Bounded both in entries and in (approximate) bytes, so a worker serving
    many patients keeps its memory flat: the least recently used go first.
    """

    def __init__(self, size: int = DEFAULT_SIZE, max_bytes: int = DEFAULT_BYTES) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any:
        """What is kept under `key`, or None (then load the data and `put` it)."""
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found[0]

    def put(self, key: Hashable, value: Any) -> Any:
        """Keep `value` under `key` and return it; a str is kept as Markup (see `markup`)."""
        if isinstance(value, str):
            value = markup(value)
        cost = _cost(value)
        if cost > self.max_bytes:
            return value  # larger than the whole budget: used once, not kept
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (value, cost)
            self._bytes += cost
            while len(self._items) > self.size or self._bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped
        return value

    def get_or_make(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """What is kept under `key`, else `make()`'s result, kept (see `put`)."""
        found = self.get(key)
        return self.put(key, make()) if found is None else found

    @property
    def bytes(self) -> int:
        return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)


def install(app: Flask) -> None:
    app.extensions["fragments"] = FragmentCache(
        app.config.get("FRAGMENT_CACHE_SIZE", DEFAULT_SIZE),
        app.config.get("FRAGMENT_CACHE_BYTES", DEFAULT_BYTES),
    )


def cache_of(app: Flask) -> FragmentCache:
    return app.extensions["fragments"]


def cache() -> FragmentCache:
    """The current app's fragment cache."""
    return cache_of(current_app)


def page(
    key: Hashable,
    template: str,
    load: Callable[[], dict[str, Any]] | None = None,
    **context: Any,
) -> Markup:
    """A whole page from `template`, kept under `key` (plus the script root) when it can be.

    `key` must name everything the page shows (see the rules above),
    including the signed-in user (e.g. `access.actor_id`), whom the shell
    shows; the script root is added here, and the CSRF token (and any entry
    form's idempotency key) is filled per request. `load`, when given, returns
    more of the template's context and is called only when the page must be
    rendered. A page with flashed messages waiting is rendered afresh: showing
    them consumes them.
    """

    def render() -> str:
        with slots():
            rendered = render_template(template, **context, **(load() if load else {}))
        token = g.get("csrf_token")  # set by Flask-WTF's generate_csrf, e.g. form.hidden_tag()
        if token and token in rendered:
            raise RuntimeError(f"{template} put the session's CSRF token in a page to be kept")
        return rendered

    if "_flashes" in session:
        return fill_slots(markup(render()))
    return fill_slots(cache().get_or_make(("page", key, template, request.script_root), render))


@contextmanager
def slots() -> Iterator[None]:
    """Render `CSRF_SLOT` and `KEY_SLOT` instead of this request's token and keys."""
    before = g.get("fragment_slots", False)
    g.fragment_slots = True
    try:
        yield
    finally:
        g.fragment_slots = before


def in_slots() -> bool:
    """Whether markup being rendered now is to be kept (see `slots`)."""
    return g.get("fragment_slots", False)


def fill_slots(markup: Markup) -> Markup:
    """`markup` with this request's CSRF token and a fresh idempotency key per KEY_SLOT."""
    markup = fill_csrf(markup)
    if KEY_SLOT not in markup:
        return markup
    first, *rest = markup.split(KEY_SLOT)  # Markup parts; a str added to one is escaped
    return first + Markup("").join(str(uuid.uuid4()) + part for part in rest)


def markup(rendered: str) -> Markup:
    """A template's output as Markup: Jinja rendered it with autoescape on."""
    return Markup(rendered)  # noqa: S704  (already escaped by the template)


def fill_csrf(markup: Markup) -> Markup:
    """`markup` with this request's CSRF token wherever the fragment left CSRF_SLOT."""
    if CSRF_SLOT not in markup:
        return markup
    from portal.web import csrf_token

    return markup.replace(CSRF_SLOT, csrf_token())  # Markup.replace escapes the token
