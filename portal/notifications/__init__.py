"""Push notifications: the outbox (`enqueue`), devices, preferences and delivery.

Services call `notifications.enqueue(...)` in the same transaction as the
change that causes a notice (`outbox.py`). Kinds of notice, with their words,
live in `kinds.py`. A person's devices and the notices other features raise
are in `services.py`; their choices and quiet hours in `preferences.py`; which
push services the portal sends to in `endpoints.py`. The deliverer
(`delivery.py`, the only pywebpush caller) drains the outbox:
`flask --app wsgi notify deliver [--loop]`.
"""

from __future__ import annotations

from portal.notifications.outbox import enqueue

__all__ = ["enqueue"]
