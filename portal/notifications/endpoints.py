"""Which push services the portal sends to, and what a push endpoint URL names.

`PUSH_SERVICE_HOSTS` is parsed into `AllowedService` entries (host names with
HTTPS implied, `*.` wildcards, or full origins such as the test stand-in's
`http://127.0.0.1:8099`); `endpoint_allowed` checks a subscription's endpoint
against them when a device registers and again before every send, and
`origin_of` names the push service an endpoint belongs to (the VAPID audience
and the deliverer's connection key). Pure functions: no database, no request.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app


@dataclass(frozen=True)
class AllowedService:
    """One allow-list entry: a host name (HTTPS, port 443, `*.` for subdomains) or an origin."""

    scheme: str
    host: str
    port: int

    def matches(self, scheme: str, host: str, port: int) -> bool:
        if scheme != self.scheme or port != self.port:
            return False
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and len(host) > len(self.host) - 1
        return host == self.host


_DEFAULT_PORTS = {"https": 443, "http": 80}


def parse_allow_list(setting: str | Iterable[str | AllowedService]) -> list[AllowedService]:
    """Parse PUSH_SERVICE_HOSTS: comma-separated host names or origins like http://127.0.0.1:8099."""
    entries = setting.split(",") if isinstance(setting, str) else list(setting)
    allowed = []
    for raw in entries:
        if isinstance(raw, AllowedService):  # already parsed (the deliverer parses once)
            allowed.append(raw)
            continue
        entry = raw.strip().lower().rstrip("/")
        if not entry:
            continue
        if "://" in entry:
            parts = urlsplit(entry)
            if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path:
                raise ValueError(f"PUSH_SERVICE_HOSTS: {raw.strip()!r} is not an origin")
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
            allowed.append(AllowedService(parts.scheme, parts.hostname, port))
        else:
            allowed.append(AllowedService("https", entry, 443))
    return allowed


_WHITESPACE = re.compile(r"\s")


def endpoint_origin(endpoint: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a well-formed push endpoint URL, or None."""
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None or parts.fragment:
        return None
    if _WHITESPACE.search(endpoint):
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def origin_of(endpoint: str) -> str:
    """`scheme://host[:port]` of an endpoint: the VAPID audience and the connection pool key."""
    parsed = endpoint_origin(endpoint)
    if parsed is None:
        raise ValueError("not a push endpoint URL")
    scheme, host, port = parsed
    return f"{scheme}://{host}" if port == _DEFAULT_PORTS[scheme] else f"{scheme}://{host}:{port}"


def endpoint_allowed(
    endpoint: str, setting: str | Iterable[str | AllowedService] | None = None
) -> bool:
    """True when the endpoint is on a push service named in PUSH_SERVICE_HOSTS."""
    if setting is None:
        setting = current_app.config["PUSH_SERVICE_HOSTS"]
    parsed = endpoint_origin(endpoint)
    if parsed is None:
        return False
    entries = _parsed_setting(setting) if isinstance(setting, str) else parse_allow_list(setting)
    return any(entry.matches(*parsed) for entry in entries)


@functools.lru_cache(maxsize=8)
def _parsed_setting(setting: str) -> tuple[AllowedService, ...]:
    """PUSH_SERVICE_HOSTS parsed once per distinct value, not once per endpoint checked."""
    return tuple(parse_allow_list(setting))
