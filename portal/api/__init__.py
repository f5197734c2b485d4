"""JSON API v1 for the web app: the same services as the HTML views.

`blueprint` holds the blueprint, its JSON errors and body checking; `openapi`
builds `/api/v1/openapi.json` from the routes and their pydantic models; the
route modules are `goals` (goals, entries, threads), `push` (push
subscriptions) and `portal.caregivers.api` (whose pages a phone may keep).
Importing the package registers them all on `bp`.
"""

from __future__ import annotations

from portal.api import goals, openapi, push
from portal.api.blueprint import bp
from portal.caregivers import api as caregivers

__all__ = ["bp", "caregivers", "goals", "openapi", "push"]
