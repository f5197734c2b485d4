"""What an administrator does to accounts: list, create clinicians, disable, enable, resend.

Administrators manage accounts only: nothing here reads a plan, a goal or an
entry, and `portal.access.resolve` gives an administrator no relation to any
patient. Every action is audited with the relation "admin" and no patient.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select

from portal import audit
from portal.auth.models import Discipline, User, UserKind
from portal.auth.services import end_sessions, normalize_email
from portal.enrolment import activation
from portal.extensions import db

PER_PAGE = 50


class State(enum.StrEnum):
    ACTIVE = "active"
    WAITING = "waiting"  # enrolled, no password chosen yet
    DISABLED = "disabled"

    @property
    def label(self) -> str:
        return {"active": "Active", "waiting": "Not set up yet", "disabled": "Disabled"}[self]


def state_of(user: User) -> State:
    if not user.is_active_account:
        return State.DISABLED
    return State.ACTIVE if user.activated_at is not None else State.WAITING


class AdminRefused(ValueError):
    """An action the rules forbid; the message says why, in plain words."""


@dataclass(frozen=True)
class AccountPage:
    users: list[User]
    total: int
    page: int
    pages: int


def _audit(admin: User, action: str, user_id: int | None) -> None:
    audit.record_rows(
        [
            {
                "actor_id": admin.id,
                "relation": "admin",
                "patient_id": None,
                "action": action,
                "object_type": "user",
                "object_id": user_id,
            }
        ]
    )


def _matching(query: str):
    if not query:
        return []
    pattern = (
        "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    )
    return [
        or_(func.lower(User.name).like(pattern, escape="\\"), User.email.like(pattern, escape="\\"))
    ]


def accounts(admin: User, query: str, page: int) -> AccountPage:
    """One page of every account, by name, matching `query` in the name or email."""
    where = _matching(query)
    total = db.session.scalar(select(func.count()).select_from(User).where(*where))
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(1, page), pages)
    users = list(
        db.session.scalars(
            select(User)
            .where(*where)
            .order_by(func.lower(User.name), User.id)
            .limit(PER_PAGE)
            .offset((page - 1) * PER_PAGE)
        )
    )
    _audit(admin, "list", None)
    return AccountPage(users, total, page, pages)


def account(admin: User, user_id: int) -> User | None:
    """One account, as the administrator's account page shows it."""
    user = db.session.get(User, user_id)
    if user is not None:
        _audit(admin, "read", user.id)
    return user


def create_clinician(
    admin: User, name: str, email: str, discipline: Discipline, job_title: str | None
) -> User:
    """A clinician account; its owner gets the link to choose a password. Raises EmailTaken."""
    user = activation.new_account(
        email,
        name,
        UserKind.CLINICIAN,
        discipline=discipline,
        job_title=job_title or None,
        timezone=admin.timezone,
    )
    _audit(admin, "create", user.id)
    activation.send_link(user)
    return user


def set_enabled(admin: User, user: User, enabled: bool, now: datetime | None = None) -> int:
    """Disable (every session ends at once) or enable an account; how many sessions ended."""
    if user.id == admin.id:
        raise AdminRefused("You cannot disable your own account. Ask another administrator.")
    if user.is_active_account == enabled:
        return 0
    user.is_active_account = enabled
    ended = 0 if enabled else end_sessions(user.id)
    _audit(admin, "enable" if enabled else "disable", user.id)
    return ended


def resend_activation(admin: User, user: User) -> None:
    """Send a new activation link; the old one stops working. Raises AdminRefused."""
    if not user.is_active_account:
        raise AdminRefused("Enable the account before sending a link.")
    if user.activated_at is not None:
        raise AdminRefused(f"{user.name} has set up their account already.")
    activation.send_link(user)
    _audit(admin, "resend_activation", user.id)


def correct_email(admin: User, user: User, new_email: str) -> None:
    """Fix the address of an account not set up yet and send the link there; the old link stops.

    Only a waiting account: one in use changes its own address, confirmed from
    the new mailbox (portal/auth/account.py). Raises AdminRefused, EmailTaken.
    """
    if user.activated_at is not None or not user.is_active_account:
        raise AdminRefused(f"{user.name} changes their own email address from their account.")
    address = normalize_email(new_email)
    if address != user.email:
        if activation.email_taken(address):
            raise activation.EmailTaken(address)
        user.email = address
        db.session.flush()
    activation.send_link(user)  # retires the link sent to the wrong address
    _audit(admin, "correct_email", user.id)
