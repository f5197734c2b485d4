"""Kept pages: rendered once per version of their data and viewer, completed per request.

A patient's busiest pages (the plan, a goal) and the clinician's inbox are
kept in the worker's memory under a key built here, and only here, from:

- the versions the database keeps (`Versions`, see portal/versions.py): any
  write to the patient's data, or to anyone's shown name, gives new ones; a
  list of several patients (`list_page`) is named by each row's patient's
  data version;
- the viewer (`Access.viewer_key()`: who looks, as which relation and team
  role, with which scopes; for a list, the user and account kind), so one
  viewer's page is never served to another;
- how the reader writes dates and times: the locale negotiated from the
  browser's Accept-Language and the user's time zone (portal/when.py), so one
  viewer reading in en-US and en-GB never gets the other's markup;
- the template, the script root, and the inputs the view declares by name
  (`inputs={"goal": 7, "day": date(...)}`): whatever else the markup depends on.

What differs per request is left out of the kept markup as a *slot* and
filled in for every response (`slot()` and `fill()`): the CSRF token, a fresh
idempotency key per form, "2 hours ago" (worked out from the time in the
markup, so it cannot go stale), and whatever a feature registers with
`register_slot` (e.g. a goal page's unread marks, worked out from the reader's
read marker). A region shown only while a condition holds (`shown_if`, e.g.
an entry's Change button for 24 hours) is decided per response the same way.
Slots and regions render the same whether the page is kept or not: the
markup is made once, in the template, either way.

Nothing is ever invalidated: a change gives new versions, so the next view
asks for a key nobody has filled yet; several workers each keeping their own
copies cannot disagree. The cache is bounded in entries and bytes (least
recently used out) and emptied by `clear()` (e.g. between tests).
"""

from __future__ import annotations

import sys
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, g, render_template, request, session
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape
from sqlalchemy import func, select

from portal.db import utcnow
from portal.patients import PageVersions, Patient
from portal.when import ago, user_locale, user_zone

if TYPE_CHECKING:
    from portal.access import Access

DEFAULT_SIZE = 1024  # entries
# The worker's memory for kept pages: about 100 plan or goal pages of 40 kB
# (200 where every character is Latin-1). The bench's pages take under 1 MB; a
# full budget keeps a PostgreSQL worker under issue 10's 100 MiB
# (benchmarks/memory.py, docs/benchmarks.md "Memory per worker").
DEFAULT_BYTES = 4 * 1024 * 1024


def held(markup: str | Kept) -> int:
    """The bytes a kept page holds in memory, not its length in characters.

    CPython stores a string in 1, 2 or 4 bytes per character, whichever its
    widest character needs: one em dash or curly quote (or a name written
    in a non-Latin script) doubles a whole page. Counted in characters, the
    budget held twice what it said.
    """
    if isinstance(markup, Kept):
        return markup.held
    return sys.getsizeof(markup)


class PageCache:
    """A bounded, thread-safe LRU of rendered markup, bounded in entries and bytes."""

    def __init__(self, size: int = DEFAULT_SIZE, max_bytes: int = DEFAULT_BYTES) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, Kept | Markup] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Kept | Markup | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: Hashable, value: Kept | Markup) -> Kept | Markup:
        size = held(value)
        if size > self.max_bytes:
            return value  # larger than the whole budget: used once, not kept
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= held(old)
            self._items[key] = value
            self._bytes += size
            while len(self._items) > self.size or self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= held(dropped)
        return value

    @property
    def bytes(self) -> int:
        return self._bytes

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True, slots=True)
class Versions:
    """The database's versions of what a patient's kept page shows (portal/versions.py)."""

    data: int
    people: int

    @classmethod
    def of(cls, row: Any) -> Versions:
        """From a row that selected `version_columns()`."""
        return cls(row.data_version, row.people_version)


def version_columns() -> tuple:
    """Columns a page's state query selects (joined to `patients`) to build `Versions`."""
    people = select(func.coalesce(func.max(PageVersions.people), 0)).scalar_subquery()
    return Patient.data_version.label("data_version"), people.label("people_version")


def cache_of(app: Flask) -> PageCache:
    return app.extensions["pagecache"]


def cache() -> PageCache:
    """The current app's page cache."""
    return cache_of(current_app)


def key(access: Access, versions: Versions, template: str, inputs: Mapping[str, Hashable]) -> tuple:
    """The one way a patient's kept page is named (see the module's docstring)."""
    return _name(template, versions, access.viewer_key(), inputs)


def _name(
    template: str, versions: Hashable, viewer: Hashable, inputs: Mapping[str, Hashable]
) -> tuple:
    return (
        template,
        request.script_root,
        versions,
        viewer,
        str(user_locale()),
        user_zone().key,
        tuple(sorted(inputs.items())),
    )


def page(
    access: Access,
    versions: Versions,
    template: str,
    *,
    inputs: Mapping[str, Hashable] | None = None,
    load: Callable[[], Mapping[str, Any]],
    per_request: Mapping[str, Any] | None = None,
) -> Markup:
    """`template` rendered with `load()`'s context, kept under `key(...)`, slots filled.

    `load` is called only when the page must be rendered. `per_request` holds
    what this request's slots are filled from (e.g. the reader's read marker).
    A page with flashed messages waiting is rendered afresh and not kept:
    showing them consumes them.
    """
    _set_context(access.actor_id, per_request)
    if "_flashes" in session:
        return Markup(render_template(template, **load()))  # noqa: S704 (autoescaped)
    name = key(access, versions, template, inputs or {})
    kept = cache().get(name)
    if kept is None:
        kept = cache().put(name, _render_to_keep(template, load))
    return fill(kept)


def list_page(
    viewer: tuple[int, str],
    shown: Hashable,
    template: str,
    *,
    load: Callable[[], tuple[Hashable, Mapping[str, Any]]],
) -> tuple[Markup, Hashable]:
    """A list of several patients' rows (the inbox), kept under what it shows.

    `shown` names the list as the database does (each row with its patient's
    data version, portal/versions.py), read by the view in one cheap query;
    `viewer` is (user id, account kind). `load()` reads the list in full and
    returns what that read shows with the template's context: the markup is
    kept under what `load()` read, so a write between the two reads can never
    leave newer rows under older versions. Returns the markup and what it
    shows, for the view's audit event.
    """
    _set_context(viewer[0], None)
    if "_flashes" in session:
        found, context = load()
        return Markup(render_template(template, **context)), found  # noqa: S704 (autoescaped)
    kept = cache().get(_name(template, shown, viewer, {}))
    if kept is None:
        shown, context = load()
        kept = cache().put(
            _name(template, shown, viewer, {}), _render_to_keep(template, lambda: context)
        )
    return fill(kept), shown


def render(
    access: Access,
    template: str,
    /,
    *,
    per_request: Mapping[str, Any] | None = None,
    **context: Any,
) -> str:
    """`template` rendered for this request only, its slots filled from `per_request`."""
    _set_context(access.actor_id, per_request)
    return render_template(template, **context)


def _set_context(actor_id: int, per_request: Mapping[str, Any] | None) -> None:
    g.page_context = {"now": utcnow(), "actor_id": actor_id, **(per_request or {})}


def _render_to_keep(template: str, load: Callable[[], Mapping[str, Any]]) -> Kept:
    g.keeping = True
    try:
        rendered = render_template(template, **load())
    finally:
        g.keeping = False
    if generate_csrf() in rendered:  # e.g. a form's hidden_tag(): never keep a session's token
        raise RuntimeError(f"{template} put the session's CSRF token in a page to be kept")
    return Kept.of(rendered)


# Slots ---------------------------------------------------------------------

# Kept markup is text and placeholders: NUL, then "name US value" (a slot),
# "?name US value" (a region's start) or "/?" (its end), then NUL.
_SLOTS: dict[str, Callable[[str, dict[str, Any]], str]] = {}
_CONDITIONS: dict[str, Callable[[str, dict[str, Any]], bool]] = {}


def register_slot(name: str, fill_one: Callable[[str, dict[str, Any]], str]) -> None:
    """`fill_one(value, context)` gives the markup of slot `name` for this request."""
    _SLOTS[name] = fill_one


def register_condition(name: str, holds: Callable[[str, dict[str, Any]], bool]) -> None:
    """`holds(value, context)` says whether a `shown_if(name, value)` region shows now."""
    _CONDITIONS[name] = holds


def _text(value: Any) -> str:
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    if "\x00" in text or "\x1f" in text:
        raise ValueError("a slot's value cannot hold NUL or US characters")
    return text


def _placeholder(spec: str, text: str = "") -> str:
    """A placeholder in kept markup: NUL, spec US escaped value, NUL (`/?` ends a region)."""
    return "\x00/?\x00" if spec == "/?" else f"\x00{spec}\x1f{escape(text)}\x00"


def shown_if(name: str, value: Any, caller: Callable[[], str]) -> Markup:
    """`{% call shown_if("name", value) %}...{% endcall %}`: the body, when the condition holds.

    Decided per request, so a kept page shows it exactly while it holds (e.g.
    an entry's Change button for 24 hours after logging).
    """
    text = _text(value)
    if g.get("keeping"):
        body = caller()
        return Markup(f"{_placeholder('?' + name, text)}{body}{_placeholder('/?')}")  # noqa: S704
    return Markup(caller()) if _CONDITIONS[name](text, _context()) else Markup("")  # noqa: S704


def slot(name: str, value: Any = "") -> Markup:
    """The per-request part `name` for `value`: a placeholder while a page is being kept."""
    text = _text(value)
    if g.get("keeping"):
        return Markup(_placeholder(name, text))  # noqa: S704 (the value is escaped)
    return Markup(_SLOTS[name](text, _context()))  # noqa: S704 (slot functions escape)


_SLOT, _REGION, _END = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Kept:
    """A kept page's markup with its placeholders found once, when it was kept.

    `parts` is text, then a placeholder as (what, name, value), then text, and
    so on, ending with text: `fill` walks it on every view without searching
    30 kB of markup for fifty slots again (a quarter of filling the inbox).
    The text is held once, in `parts`; `str()` gives the markup back.
    """

    parts: tuple[Any, ...]
    held: int  # bytes in memory (`held()`)

    @classmethod
    def of(cls, markup: str) -> Kept:
        pieces = str(markup).split("\x00")  # text, placeholder, text, ..., text
        parts: list[Any] = []
        for i, piece in enumerate(pieces):
            if i % 2 == 0:
                parts.append(piece)
            elif piece == "/?":
                parts.append((_END, "", ""))
            else:
                spec, _, value = piece.partition("\x1f")
                what = _REGION if spec[0] == "?" else _SLOT
                name = sys.intern(spec[1:] if what == _REGION else spec)  # one string a worker
                parts.append((what, name, _unescape(value)))
        size = sys.getsizeof(parts) + sum(
            sys.getsizeof(p) if isinstance(p, str) else sys.getsizeof(p[2]) + _PLACEHOLDER_BYTES
            for p in parts
        )
        return cls(tuple(parts), size)

    def __str__(self) -> str:
        specs = {_SLOT: "", _REGION: "?", _END: "/?"}
        return "".join(
            part if i % 2 == 0 else _placeholder(specs[part[0]] + part[1], part[2])
            for i, part in enumerate(self.parts)
        )


_PLACEHOLDER_BYTES = 64  # a 3-tuple; its small int and its interned name are shared


def fill(markup: Kept | Markup) -> Markup:
    """`markup` with every slot filled, and every region kept or dropped, for this request."""
    if not isinstance(markup, Kept):
        if "\x00" not in markup:
            return markup
        markup = Kept.of(markup)
    parts = markup.parts
    if len(parts) == 1:
        return Markup(parts[0])  # noqa: S704 (kept markup was escaped when rendered)
    context = _context()
    out = [parts[0]]
    skipping = False
    for i in range(1, len(parts), 2):
        what, name, value = parts[i]
        if what == _END:
            skipping = False
        elif not skipping:
            if what == _REGION:
                skipping = not _CONDITIONS[name](value, context)
            else:
                out.append(_SLOTS[name](value, context))
        if not skipping:
            out.append(parts[i + 1])
    return Markup("".join(out))  # noqa: S704 (the kept markup was escaped; slot functions escape)


def _unescape(text: str) -> str:
    """Reverses slot()'s escape (most values, times and numbers, have nothing to unescape)."""
    return Markup(text).unescape() if "&" in text else text  # noqa: S704


def _context() -> dict[str, Any]:
    context = g.get("page_context")
    if context is None:
        context = g.page_context = {"now": utcnow(), "actor_id": None}
    return context


def _once(context: dict[str, Any], name: str, make: Callable[[], Any]) -> Any:
    """A value worked out once per response, however many slots use it."""
    if name not in context:
        context[name] = make()
    return context[name]


def _ago(value: str, context: dict[str, Any]) -> str:
    zone = _once(context, "zone", user_zone)
    return str(escape(ago(datetime.fromisoformat(value), context["now"], zone)))


register_slot("csrf", lambda _value, context: _once(context, "csrf", generate_csrf))
register_slot("key", lambda _value, _context: str(uuid.uuid4()))
register_slot("ago", _ago)


def csrf_token() -> Markup:
    """The form's CSRF token: Flask-WTF's, or a slot in a page being kept."""
    return slot("csrf")


def install(app: Flask) -> None:
    """Give the app its page cache and the templates `slot` and a slot-aware `csrf_token`."""
    app.extensions["pagecache"] = PageCache(
        app.config.get("PAGE_CACHE_SIZE", DEFAULT_SIZE),
        app.config.get("PAGE_CACHE_BYTES", DEFAULT_BYTES),
    )
    app.jinja_env.globals.update(slot=slot, shown_if=shown_if, csrf_token=csrf_token)
    # Flask-WTF hands templates its own csrf_token through a context
    # processor, which would win over the global; this one runs after it.
    app.context_processor(lambda: {"csrf_token": csrf_token})
