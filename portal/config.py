"""Settings from the environment, with safe defaults.

`PORTAL_ENV` picks the profile: `development` (the default for `make run`),
`test`, or `production`. Production refuses to start without an explicit
`SECRET_KEY` of at least 32 bytes, never uses a generated development key,
and needs a mail server (`MAIL_SERVER`) and the address people reach the
portal at (`PUBLIC_URL`), since sign-in help arrives by mail.
"""

from __future__ import annotations

import hmac
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENVIRONMENTS = ("development", "test", "production")

# scrypt with N = 2^17, r = 8, p = 1: an approved password KDF at OWASP's
# recommended cost (128 MiB, about a quarter second per hash on this hardware).
PRODUCTION_PASSWORD_METHOD = "scrypt:131072:8:1"  # noqa: S105  (a KDF name)


class ConfigError(RuntimeError):
    """The environment does not describe a runnable portal."""


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _dev_secret_key(instance_path: Path) -> str:
    """Generate a development key once into instance/, so sessions survive restarts."""
    key_file = instance_path / "dev-secret-key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def _dev_audit_key(secret_key: str) -> str:
    """Development and tests only: an audit key derived from SECRET_KEY, marked as such."""
    derived = hmac.new(secret_key.encode(), b"carecircle development audit key", "sha256")
    return "dev-derived-" + derived.hexdigest()


def _database_url(env: str, instance_path: Path) -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if env == "test":
        url = os.environ.get("TEST_DATABASE_URL", "").strip() or url
    if not url:
        instance_path.mkdir(parents=True, exist_ok=True)
        name = "carecircle-test.db" if env == "test" else "carecircle.db"
        return f"sqlite:///{instance_path / name}"
    if url.startswith("postgres://"):  # the form Heroku-style platforms hand out
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


# Where development and tests say the portal is, for links in mails.
DEFAULT_PUBLIC_URLS = {"development": "http://127.0.0.1:5000", "test": "http://localhost"}
MIN_SECRET_KEY_BYTES = 32


def _mail_settings(env: str) -> dict[str, Any]:
    """Outgoing mail, under Flask-Mail's names; links in mails start with PUBLIC_URL."""
    use_ssl = _bool("MAIL_USE_SSL", False)
    use_tls = _bool("MAIL_USE_TLS", False)
    if use_ssl and use_tls:
        raise ConfigError("set MAIL_USE_SSL (port 465) or MAIL_USE_TLS (STARTTLS), not both")
    public_url = os.environ.get("PUBLIC_URL", "").strip() or DEFAULT_PUBLIC_URLS.get(env, "")
    return {
        # Without a server, development prints each mail on the deliverer's console.
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", "").strip(),
        "MAIL_PORT": _int("MAIL_PORT", 465 if use_ssl else 587 if use_tls else 25),
        "MAIL_USE_TLS": use_tls,
        "MAIL_USE_SSL": use_ssl,
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD", ""),
        "MAIL_DEFAULT_SENDER": os.environ.get("MAIL_DEFAULT_SENDER", "").strip(),
        "MAIL_TIMEOUT_SECONDS": _int("MAIL_TIMEOUT_SECONDS", 20),
        "MAIL_MAX_ATTEMPTS": _int("MAIL_MAX_ATTEMPTS", 12),
        "MAIL_BACKOFF_SECONDS": _int("MAIL_BACKOFF_SECONDS", 30),
        "MAIL_LEASE_SECONDS": _int("MAIL_LEASE_SECONDS", 300),
        "PUBLIC_URL": public_url.rstrip("/"),
        # Links in mails: a password reset works for an hour at most, a new email's
        # confirmation for a day.
        "PASSWORD_RESET_MINUTES": min(_int("PASSWORD_RESET_MINUTES", 60), 60),
        "PASSWORD_RESETS_PER_HOUR": _int("PASSWORD_RESETS_PER_HOUR", 3),
        "EMAIL_CONFIRM_HOURS": _int("EMAIL_CONFIRM_HOURS", 24),
    }


def _check_production(cfg: dict[str, Any]) -> None:
    """What production refuses to start without (after explicit overrides are applied)."""
    if len(str(cfg["SECRET_KEY"]).encode()) < MIN_SECRET_KEY_BYTES:
        raise ConfigError(
            f"SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes in production; "
            "make one with: python -c 'import secrets; print(secrets.token_hex(32))'"
        )
    if len(str(cfg["AUDIT_KEY"]).encode()) < MIN_SECRET_KEY_BYTES:
        raise ConfigError(
            f"AUDIT_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes in production: it seals "
            "the audit trail; make one as for SECRET_KEY and keep it apart from the database"
        )
    if not cfg["MAIL_SERVER"]:
        raise ConfigError("production needs MAIL_SERVER: password resets are sent by mail")
    url = urlsplit(cfg["PUBLIC_URL"])
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(
            "production needs PUBLIC_URL, the address people open the portal at, "
            "like https://portal.example.org (links in mails start with it)"
        )


def load(instance_path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from the environment and explicit overrides."""
    overrides = dict(overrides or {})
    env = overrides.get("PORTAL_ENV") or os.environ.get("PORTAL_ENV", "development")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"PORTAL_ENV must be one of {', '.join(ENVIRONMENTS)}, got {env!r}")
    production = env == "production"

    secret = os.environ.get("SECRET_KEY", "").strip()
    if not secret and "SECRET_KEY" not in overrides:
        if production:
            raise ConfigError("SECRET_KEY must be set in production")
        secret = _dev_secret_key(instance_path)

    cfg: dict[str, Any] = {
        "PORTAL_ENV": env,
        "TESTING": env == "test",
        "SECRET_KEY": secret,
        # Seals the audit trail (portal/audit/chain.py); production requires its own.
        "AUDIT_KEY": os.environ.get("AUDIT_KEY", "").strip(),
        "SQLALCHEMY_DATABASE_URI": _database_url(env, instance_path),
        # hide_parameters: database errors (and so logged tracebacks) never carry
        # the statement's values, which may be a patient's notes or goals.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": production, "hide_parameters": True},
        "SQLALCHEMY_RECORD_QUERIES": False,
        # Sessions: revocable on the server, idle and absolute limits in minutes.
        "SESSION_IDLE_MINUTES": _int("SESSION_IDLE_MINUTES", 30),
        "SESSION_ABSOLUTE_HOURS": _int("SESSION_ABSOLUTE_HOURS", 12),
        # Clinicians and administrators reach many patients' records: a shorter idle limit.
        "STAFF_SESSION_IDLE_MINUTES": _int("STAFF_SESSION_IDLE_MINUTES", 15),
        # Two-step sign-in (TOTP): required for these kinds of account, offered to the others.
        "MFA_REQUIRED": _bool("MFA_REQUIRED", True),
        "MFA_REQUIRED_KINDS": tuple(
            kind.strip()
            for kind in os.environ.get("MFA_REQUIRED_KINDS", "clinician,admin").split(",")
            if kind.strip()
        ),
        "SESSION_COOKIE_NAME": "cc_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", production),
        "REMEMBER_COOKIE_DURATION": 0,
        # The cookie lives no longer than the server-side session may (absolute
        # limit); the server checks idleness itself, so the cookie need not be
        # re-signed on every response.
        "SESSION_REFRESH_EACH_REQUEST": False,
        "PASSWORD_HASH_METHOD": os.environ.get("PASSWORD_HASH_METHOD", PRODUCTION_PASSWORD_METHOD),
        # Sign-in throttling: after SLOW_AFTER failures each attempt must wait,
        # doubling; after LOCK_AFTER the address is refused for LOCK_MINUTES.
        "LOGIN_SLOW_AFTER": _int("LOGIN_SLOW_AFTER", 3),
        "LOGIN_LOCK_AFTER": _int("LOGIN_LOCK_AFTER", 8),
        "LOGIN_LOCK_MINUTES": _int("LOGIN_LOCK_MINUTES", 15),
        # The same per client address, wider: a clinic's staff may share one address.
        "LOGIN_ADDRESS_SLOW_AFTER": _int("LOGIN_ADDRESS_SLOW_AFTER", 20),
        "LOGIN_ADDRESS_LOCK_AFTER": _int("LOGIN_ADDRESS_LOCK_AFTER", 60),
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the server-side session
        "WTF_CSRF_SSL_STRICT": production,
        "WTF_CSRF_HEADERS": ["X-CSRFToken", "X-CSRF-Token"],
        # Push notifications (see portal/notifications).
        "VAPID_PRIVATE_KEY": os.environ.get("VAPID_PRIVATE_KEY", ""),
        "VAPID_SUBJECT": os.environ.get("VAPID_SUBJECT", "mailto:privacy@carecircle.example"),
        "PUSH_SERVICE_HOSTS": os.environ.get(
            "PUSH_SERVICE_HOSTS",
            "fcm.googleapis.com,updates.push.services.mozilla.com,"
            "*.notify.windows.com,web.push.apple.com,*.push.apple.com",
        ),
        "PUSH_TTL_SECONDS": _int("PUSH_TTL_SECONDS", 24 * 3600),
        "PUSH_TIMEOUT_SECONDS": _int("PUSH_TIMEOUT_SECONDS", 10),
        "PUSH_MAX_ATTEMPTS": _int("PUSH_MAX_ATTEMPTS", 8),
        "PUSH_MAX_SUBSCRIPTIONS": _int("PUSH_MAX_SUBSCRIPTIONS", 10),
        "PUSH_CONCURRENCY": _int("PUSH_CONCURRENCY", 16),
        # A claimed batch is someone else's to retry only after its lease ends.
        "PUSH_LEASE_SECONDS": _int("PUSH_LEASE_SECONDS", 600),
        "PUSH_BACKOFF_SECONDS": _int("PUSH_BACKOFF_SECONDS", 30),
        "VAPID_KEY_FILE": os.environ.get("VAPID_KEY_FILE", ""),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        # text: one line per event for people; json: one object per line for a collector.
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "text").strip().lower() or "text",
        # The largest request body (bytes): the biggest form or JSON body is a few
        # kilobytes, so 1 MiB refuses nothing real; anything larger answers 413.
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 1024 * 1024),
        # Register Flask-Migrate outside the `flask` command line too (tests that migrate).
        "MIGRATIONS": False,
        # Rendered page parts each worker keeps (portal/pagecache.py).
        "PAGE_CACHE_SIZE": _int("PAGE_CACHE_SIZE", 1024),
        "PAGE_CACHE_BYTES": _int("PAGE_CACHE_BYTES", 4 * 1024 * 1024),
        # From this age a guardian no longer sees a minor's sensitive items (portal/caregivers).
        "GUARDIAN_SENSITIVE_AGE": _int("GUARDIAN_SENSITIVE_AGE", 12),
        **_mail_settings(env),
    }
    if env == "test":
        cfg["PASSWORD_HASH_METHOD"] = os.environ.get(
            "TEST_PASSWORD_HASH_METHOD", "pbkdf2:sha256:1000"
        )
    cfg.update(overrides)
    if not cfg.get("AUDIT_KEY") and not production:
        cfg["AUDIT_KEY"] = _dev_audit_key(str(cfg["SECRET_KEY"]))
    cfg["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=cfg["SESSION_ABSOLUTE_HOURS"])
    if (
        production
        and cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
        and not _bool("ALLOW_SQLITE_IN_PRODUCTION", False)
    ):
        # One SQLite file cannot be shared by several app servers.
        raise ConfigError("production needs DATABASE_URL pointing at PostgreSQL")
    if production:
        _check_production(cfg)
    return cfg
