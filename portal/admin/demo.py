"""The demo administrator."""

from __future__ import annotations

from sqlalchemy import select

from portal.auth.models import User, UserKind
from portal.auth.services import create_user
from portal.extensions import db

ADMIN = ("admin@example.com", "Robin Hale")


def seed_admin(password: str) -> int:
    """Create the demo administrator unless it exists; how many accounts were new."""
    email, name = ADMIN
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        return 0
    create_user(email, password, name, UserKind.ADMIN)
    return 1
