"""The demo administrator."""

from __future__ import annotations

from sqlalchemy import select

from portal.auth.models import User, UserKind
from portal.auth.services import create_user
from portal.extensions import db

ADMIN = ("admin@example.com", "Robin Hale")


def seed_admin(password: str) -> tuple[User, bool]:
    """The demo administrator, created unless it exists; and whether it was new."""
    email, name = ADMIN
    existing = db.session.scalar(select(User).where(User.email == email))
    if existing is not None:
        return existing, False
    return create_user(email, password, name, UserKind.ADMIN), True
