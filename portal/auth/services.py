"""Passwords, sign-in throttling and server-side sessions."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import bindparam, event, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from portal import audit, transaction
from portal.auth import passwords, throttle
from portal.auth.models import AuthSession, Discipline, User, UserKind
from portal.db import utcnow
from portal.extensions import db
from portal.mail import outbox
from portal.prepared import Prepared

# Touch last_seen_at at most this often: idle timeouts are accurate to a
# minute, and most requests write nothing for the session.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)
# Clinicians and administrators: a whole panel of records behind one session.
STAFF_KINDS = frozenset({"clinician", "admin"})


class SignInRefused(Exception):
    """Too many failures for this address; `wait` says for how long."""

    def __init__(self, wait: timedelta) -> None:
        super().__init__(wait)
        self.wait = wait

    @property
    def retry_after(self) -> dict[str, str]:
        """The Retry-After header of the 429 that answers this refusal."""
        return {"Retry-After": str(max(1, int(self.wait.total_seconds())))}

    @property
    def message(self) -> str:
        seconds = max(1, int(self.wait.total_seconds()))
        when = f"{(seconds + 59) // 60} minutes" if seconds >= 90 else f"{seconds} seconds"
        return f"Too many failed sign-in attempts. For your safety, try again in {when}."


def hash_password(password: str) -> str:
    """Hash with the configured approved KDF (scrypt N=2^17 by default), after NFKC."""
    return generate_password_hash(
        passwords.normalize(password), method=current_app.config["PASSWORD_HASH_METHOD"]
    )


def password_matches(stored: str, password: str) -> bool:
    """Check a password against a stored hash, as typed or NFKC-normalised (see hash_password)."""
    normal = passwords.normalize(password)
    if check_password_hash(stored, normal):
        return True
    # Hashes made before normalisation was applied hold the password as typed.
    return normal != password and check_password_hash(stored, password)


_dummy_hashes: dict[str, str] = {}


def _dummy_hash() -> str:
    method = current_app.config["PASSWORD_HASH_METHOD"]
    if method not in _dummy_hashes:
        _dummy_hashes[method] = generate_password_hash(secrets.token_hex(8), method=method)
    return _dummy_hashes[method]


def _throttle_key(email: str) -> str:
    """The sign-in counter of an email address (hashed: the table holds no addresses)."""
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()


def normalize_email(email: str) -> str:
    return email.strip().lower()


LOCKED_SUBJECT = "Someone is trying to sign in to your CareCircle account"


def authenticate(email: str, password: str, client_addr: str | None = None) -> User | None:
    """The active user with these credentials, or None; raises SignInRefused when throttled.

    Unknown addresses cost the same hash work and are throttled the same way, so
    neither the answer nor its timing says whether an account exists. Failures
    count against the address typed and the client's address (portal/auth/throttle.py).
    """
    account_key = _throttle_key(email)
    keys = [account_key]
    if client_addr:
        keys.append(throttle.key("addr", client_addr))
    now = utcnow()
    wait = throttle.wait(keys, now)
    if wait is not None:
        _count_failure(keys, email, None, now, lock=False)
        # No account is named: not even the trail says whether the address has one.
        security_event(None, "sign_in_throttled")
        raise SignInRefused(wait)
    user = db.session.scalar(select(User).where(User.email == normalize_email(email)))
    stored = user.password_hash if user is not None else _dummy_hash()
    valid = password_matches(stored, password) and user is not None and user.is_active
    if not valid:
        _count_failure(keys, email, user, now, lock=True)
        return None
    throttle.clear(account_key)
    if not user.password_hash.startswith(current_app.config["PASSWORD_HASH_METHOD"] + "$"):
        user.password_hash = hash_password(password)  # upgrade the stored hash's cost
    return user


def _count_failure(
    keys: list[str], email: str, user: User | None, now: datetime, *, lock: bool
) -> None:
    """Count a failed or refused try for the account and the client address; mail at the lock."""
    policy = throttle.account_policy()
    failures = throttle.count_failure(keys[0], policy, now, lock=lock)
    if len(keys) > 1:
        throttle.count_failure(keys[1], throttle.address_policy(), now, lock=lock)
    if not lock and failures == policy.lock_after:  # a refused try reached the lock: whose?
        user = db.session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        if lock:
            security_event(None, "sign_in_failed")
        return
    if lock:
        security_event(user.id, "sign_in_failed")
    if failures == policy.lock_after:  # exactly one request sees this count
        _tell_owner_of_lock(user, policy.lock_minutes)


def _tell_owner_of_lock(user: User, minutes: int) -> None:
    outbox.queue(
        "sign_in_locked",
        user.email,
        LOCKED_SUBJECT,
        "sign_in_locked",
        user_id=user.id,
        name=user.name,
        minutes=minutes,
        forgot_link=outbox.link("auth.forgot_password"),
    )


def security_event(
    user_id: int | None,
    action: str,
    actor_id: int | None = None,
    relation: str = "self",
    session_id: int | None = None,
) -> None:
    """An audit row about an account, not a patient (sign-ins, second factors, sessions)."""
    actor = actor_id if actor_id is not None else user_id
    audit.record_event(
        actor,
        action,
        "account",
        user_id,
        relation="admin" if actor_id not in (None, user_id) else relation,
        session_id=session_id,
    )


@dataclass(frozen=True, eq=False)
class SignedInUser(UserMixin):
    """The user of a live session, as plain values: what every request needs to know.

    Loading it is one precompiled Core query, not an ORM entity: it is read on
    every signed-in request, and nothing a request does changes the account
    through it. Services take it wherever they take a `User` (they read `id`,
    `name`, `kind`, `timezone`).
    """

    id: int
    email: str
    name: str
    kind: UserKind
    discipline: Discipline | None
    job_title: str | None
    timezone: str
    session_id: int
    # When this session ends if nothing else happens (idle or absolute limit):
    # saved pages carry it, so the phone stops showing them offline then.
    session_ends: datetime | None = None

    @property
    def is_clinician(self) -> bool:
        return self.kind is UserKind.CLINICIAN

    def __repr__(self) -> str:
        return f"<SignedInUser {self.id} {self.kind}>"


@dataclass(frozen=True)
class SessionCheck:
    user: SignedInUser | None
    expired: bool = False


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    user: User,
    user_agent: str | None,
    *,
    pending: str | None = None,
    client_addr: str | None = None,
) -> str:
    """Create a server-side session; returns the token the cookie carries.

    A `pending` session ("code": the second step is due; "enrol": a required
    second factor must be set up first) signs nobody in: the user loader
    never returns its user, so no page, panel, inbox or API answers it.
    """
    token = secrets.token_urlsafe(32)
    auth_session = AuthSession(
        token_hash=_token_hash(token),
        user_id=user.id,
        user_agent=(user_agent or "")[:200],
        pending=pending,
        client_addr=(client_addr or "")[:45] or None,
    )
    db.session.add(auth_session)
    if pending is None:
        db.session.flush()  # its id names the session in the trail
        security_event(user.id, "sign_in", session_id=auth_session.id)
        audit.session_started(auth_session.id)  # e.g. the invitation accepted right after
    return token


# A password accepted this long ago still lets the second step finish.
PENDING_MINUTES = 10


@dataclass(frozen=True)
class PendingSignIn:
    session_id: int
    user_id: int
    state: str


def pending_sign_in(token: str | None, now: datetime | None = None) -> PendingSignIn | None:
    """The half-finished sign-in this cookie's token names, if it is still fresh."""
    if not token:
        return None
    row = db.session.execute(
        select(AuthSession.id, AuthSession.user_id, AuthSession.pending, AuthSession.created_at)
        .join(User, User.id == AuthSession.user_id)
        .where(
            AuthSession.token_hash == _token_hash(token),
            AuthSession.revoked_at.is_(None),
            AuthSession.pending.is_not(None),
            User.is_active_account.is_(True),
        )
    ).first()
    now = now or utcnow()
    if row is None or now - row.created_at > timedelta(minutes=PENDING_MINUTES):
        return None
    return PendingSignIn(row.id, row.user_id, row.pending)


def complete_sign_in(pending: PendingSignIn) -> str | None:
    """The second step is done: the session signs in, under a new token (no fixation)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    done = db.session.execute(
        update(AuthSession)
        .where(AuthSession.id == pending.session_id, AuthSession.pending == pending.state)
        .values(
            pending=None,
            token_hash=_token_hash(token),
            created_at=now,
            last_seen_at=now,
            second_factor_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        return None
    security_event(pending.user_id, "sign_in", session_id=pending.session_id)
    return token


_LIVE_SESSION = Prepared(
    select(
        AuthSession.id,
        AuthSession.created_at,
        AuthSession.last_seen_at,
        User.id,
        User.email,
        User.name,
        User.kind,
        User.discipline,
        User.job_title,
        User.timezone,
        AuthSession.second_factor_at,
    )
    .join(User, User.id == AuthSession.user_id)
    .where(
        AuthSession.token_hash == bindparam("token_hash"),
        AuthSession.revoked_at.is_(None),
        AuthSession.pending.is_(None),
        User.is_active_account.is_(True),
    )
)


def check_session(token: str, user_id: str) -> SessionCheck:
    """Load the user of a live session, revoking it when idle or past its lifetime."""
    row = _LIVE_SESSION.first(transaction.connection(), {"token_hash": _token_hash(token)})
    if row is None or not hmac.compare_digest(str(row[3]), str(user_id)):
        return SessionCheck(None)
    session_id, created_at, last_seen_at = row[0], row[1], row[2]
    now = utcnow()
    cfg = current_app.config
    idle = timedelta(minutes=idle_minutes(row[6]))
    lifetime = timedelta(hours=cfg["SESSION_ABSOLUTE_HOURS"])
    if now - last_seen_at > idle or now - created_at > lifetime:
        _touch(session_id, revoked_at=now)
        audit.record_event(
            row[3], "session_expired", "auth_session", session_id, session_id=session_id
        )
        return SessionCheck(None, expired=True)
    if row[-1] is None and second_factor_required(row[6]):
        # Enforced here, for every route: a session of an account that must use a
        # second factor signs in only once the code was given (also sessions made
        # before the rule, or before MFA_REQUIRED was turned on).
        return SessionCheck(None)
    if now - last_seen_at > LAST_SEEN_RESOLUTION:
        _seen_at_commit(session_id, now)
        last_seen_at = now
    ends = min(last_seen_at + idle, created_at + lifetime)
    return SessionCheck(SignedInUser(*row[3:-1], session_id=session_id, session_ends=ends))


def second_factor_required(kind: UserKind | str) -> bool:
    """Whether accounts of this kind must sign in with a second factor (MFA_REQUIRED_KINDS)."""
    cfg = current_app.config
    return bool(cfg["MFA_REQUIRED"]) and str(kind) in cfg["MFA_REQUIRED_KINDS"]


def idle_minutes(kind: UserKind | str) -> int:
    """How long a session may stay unused: shorter for those who can open a whole panel."""
    cfg = current_app.config
    if str(kind) in STAFF_KINDS:
        return cfg["STAFF_SESSION_IDLE_MINUTES"]
    return cfg["SESSION_IDLE_MINUTES"]


def _touch(session_id: int, **values: datetime) -> None:
    db.session.execute(update(AuthSession).where(AuthSession.id == session_id).values(**values))


_SEEN = "auth_session_seen"


def _seen_at_commit(session_id: int, now: datetime) -> None:
    """Record the session's last use when the request commits, not at its first statement.

    On SQLite the first write takes the database's write lock until commit; a
    bookkeeping write at the start of a request would hold it while the page
    is read and rendered. A request that rolls back records nothing, as before.
    """
    transaction.connection()  # tie the queued write to this transaction: its rollback drops it
    transaction.info()[_SEEN] = (session_id, now)


@transaction.before_commit
def _write_seen(committing: transaction.Committing) -> None:
    seen = committing.info.pop(_SEEN, None)
    if seen is not None:
        session_id, now = seen
        committing.connection().execute(
            update(AuthSession).where(AuthSession.id == session_id).values(last_seen_at=now)
        )


def _drop_seen(session: Session, *_args: object) -> None:
    transaction.info_of(session).pop(_SEEN, None)


event.listen(Session, "after_rollback", _drop_seen)
event.listen(Session, "after_soft_rollback", _drop_seen)


def end_session(token: str) -> None:
    """Revoke a session on the server (sign-out)."""
    ended = db.session.execute(
        update(AuthSession)
        .where(AuthSession.token_hash == _token_hash(token), AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(AuthSession.id, AuthSession.user_id)
    ).first()
    if ended is not None:
        audit.record_event(ended.user_id, "sign_out", "auth_session", ended.id, session_id=ended.id)


def end_sessions(user_id: int, *, keep: int | None = None) -> int:
    """Revoke every live session of an account (but `keep`, the caller's own); returns how many."""
    ended = (
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if keep is not None:
        ended = ended.where(AuthSession.id != keep)
    ids = db.session.scalars(ended.returning(AuthSession.id)).all()
    for session_id in ids:
        audit.record_event(user_id, "session_revoked", "auth_session", session_id)
    return len(ids)


def create_user(email: str, password: str, name: str, kind, **fields) -> User:
    """Create an account (CLI and clinic staff); raises ValueError if the email is taken.

    The password must meet the rules of `portal.auth.passwords` (PasswordRejected,
    a ValueError, says why not).
    """
    email = normalize_email(email)
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise ValueError(f"an account with the email {email} already exists")
    passwords.check(password, email)
    fields.setdefault("activated_at", utcnow())  # its password is chosen: nothing to activate
    user = User(email=email, password_hash=hash_password(password), name=name, kind=kind, **fields)
    db.session.add(user)
    db.session.flush()
    return user
