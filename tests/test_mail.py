"""The mail outbox and its deliverer, against a real SMTP server on loopback."""

from __future__ import annotations

import logging
import re
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import ROOT, config
from portal.auth import recovery
from portal.auth.tokens import AccountToken
from portal.db import utcnow
from portal.extensions import db
from portal.mail import outbox
from portal.mail.delivery import MailDeliverer, deliver_forever, housekeeping
from portal.mail.models import MailStatus, OutboxMail
from tests.mailbox import smtp  # noqa: F401  (the fixture)

ALEX = "alex@example.com"


def _queue(app, to: str = ALEX) -> int:
    """Queue a "password changed" mail in its own committed transaction; its id."""
    with app.app_context():
        mail = outbox.queue(
            "password_changed",
            to,
            "Your CareCircle password was changed",
            "password_changed",
            name="Alex Morgan",
            forgot_link=outbox.link("auth.forgot_password"),
        )
        db.session.commit()
        return mail.id


def _row(app, mail_id: int) -> OutboxMail:
    with app.app_context():
        row = db.session.get(OutboxMail, mail_id)
        db.session.expunge(row)
        return row


def test_a_mail_arrives_with_text_and_html_parts_and_absolute_links(app, smtp):  # noqa: F811
    _queue(app)
    stats = smtp.deliver()
    assert (stats.claimed, stats.sent) == (1, 1)
    (mail,) = smtp.messages
    assert mail.recipients == [ALEX]
    assert mail.sender == "no-reply@localhost"
    assert mail.message["Subject"] == "Your CareCircle password was changed"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert [part.get_content_type() for part in mail.message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert "http://localhost/forgot-password" in mail.text
    assert 'href="http://localhost/forgot-password"' in mail.html
    assert "Alex Morgan" in mail.text and "Alex Morgan" in mail.html


def test_the_sender_and_links_follow_the_settings(app, smtp):  # noqa: F811
    saved = app.config["PUBLIC_URL"], app.config["MAIL_DEFAULT_SENDER"]
    app.config.update(
        PUBLIC_URL="https://portal.example.org",
        MAIL_DEFAULT_SENDER="Riverside Clinic <care@riverside.example>",
    )
    try:
        _queue(app)
        smtp.deliver()
    finally:
        app.config["PUBLIC_URL"], app.config["MAIL_DEFAULT_SENDER"] = saved
    (mail,) = smtp.messages
    assert mail.sender == "care@riverside.example"
    assert "https://portal.example.org/forgot-password" in mail.text
    assert mail.message["Message-ID"].endswith("@portal.example.org>")


def test_a_rolled_back_change_sends_nothing(app, demo, smtp):  # noqa: F811
    with app.app_context():
        recovery.request_password_reset(ALEX)
        db.session.flush()
        assert db.session.scalar(select(OutboxMail.id)) is not None
        db.session.rollback()
        assert db.session.scalar(select(OutboxMail.id)) is None
    assert smtp.deliver().claimed == 0
    assert smtp.messages == []


def test_a_mail_server_that_is_down_loses_nothing(app, smtp):  # noqa: F811
    first, second = _queue(app), _queue(app, "blake@example.com")
    smtp.down()
    now = utcnow()
    stats = smtp.deliver(now)
    assert (stats.claimed, stats.sent, stats.retried, stats.trouble) == (2, 0, 1, True)
    waiting = _row(app, first)
    assert waiting.status is MailStatus.PENDING and waiting.attempts == 1
    assert waiting.not_before > now and waiting.sealed is not None
    assert _row(app, second).not_before == waiting.not_before  # the batch waits together
    assert smtp.deliver(now + timedelta(seconds=1)).claimed == 0  # backing off
    smtp.up()
    stats = smtp.deliver(now + timedelta(minutes=5))
    assert stats.sent == 2
    assert sorted(r for m in smtp.messages for r in m.recipients) == [ALEX, "blake@example.com"]
    assert _row(app, first).status is MailStatus.SENT and _row(app, first).sealed is None


def test_backoff_doubles_then_gives_up(app, smtp):  # noqa: F811
    mail_id = _queue(app)
    smtp.down()
    now = utcnow()
    waits = []
    for _ in range(app.config["MAIL_MAX_ATTEMPTS"]):
        smtp.deliver(now)
        row = _row(app, mail_id)
        waits.append(row.not_before - now)
        now = row.not_before
    assert waits[1] == 2 * waits[0] and waits[2] == 2 * waits[1]
    assert row.status is MailStatus.FAILED and row.sealed is None


def test_a_claimed_mail_is_not_sent_twice(app, smtp):  # noqa: F811
    """A deliverer that crashed holding a claim: the mail waits for the lease, then goes once."""
    _queue(app)
    now = utcnow()
    crashed = MailDeliverer(app, worker="crashed")
    with app.app_context():
        _token, claimed = crashed.claim(now)
        db.session.remove()
    assert len(claimed) == 1
    assert smtp.deliver(now).claimed == 0  # someone holds it
    later = now + crashed.lease + timedelta(seconds=1)
    assert smtp.deliver(later).sent == 1
    assert smtp.deliver(later + timedelta(hours=1)).claimed == 0
    assert len(smtp.messages) == 1


def test_a_refused_address_is_given_up_at_once(app, smtp):  # noqa: F811
    bounced = _queue(app, "nobody@bounce.example")
    delivered = _queue(app)
    stats = smtp.deliver()
    assert (stats.sent, stats.failed) == (1, 1)
    row = _row(app, bounced)
    assert row.status is MailStatus.FAILED and row.last_error == "recipient refused (550)"
    assert _row(app, delivered).status is MailStatus.SENT


def test_logs_never_hold_an_address_or_a_body(app, smtp, caplog):  # noqa: F811
    _queue(app)
    _queue(app, "nobody@bounce.example")
    with caplog.at_level(logging.INFO, logger="portal.mail"):
        smtp.deliver()
    logged = caplog.text
    assert "a***@example.com" in logged and "n***@bounce.example" in logged
    assert ALEX not in logged and "nobody@" not in logged
    assert "Alex Morgan" not in logged and "forgot-password" not in logged


def test_a_mail_sealed_with_another_secret_key_is_given_up(app, smtp):  # noqa: F811
    mail_id = _queue(app)
    saved = app.secret_key
    app.config["SECRET_KEY"] = "a different secret key, rotated"
    try:
        assert smtp.deliver().failed == 1
    finally:
        app.config["SECRET_KEY"] = saved
    assert "SECRET_KEY" in _row(app, mail_id).last_error
    assert smtp.messages == []


def test_without_a_mail_server_mails_are_printed(app, capsys):
    assert app.config["MAIL_SERVER"] == ""
    _queue(app)
    assert MailDeliverer(app).run_once().sent == 1
    printed = capsys.readouterr().out
    assert "To: alex@example.com" in printed
    assert "Subject: Your CareCircle password was changed" in printed
    assert "http://localhost/forgot-password" in printed


def test_the_mail_deliver_command(app, smtp):  # noqa: F811
    _queue(app)
    result = app.test_cli_runner().invoke(args=["mail", "deliver"])
    assert result.exit_code == 0, result.output
    assert "Sent 1 of 1 due mails to 127.0.0.1" in result.output
    assert len(smtp.messages) == 1


def test_the_loop_delivers_until_stopped(app, smtp):  # noqa: F811
    stop = threading.Event()
    loop = threading.Thread(
        target=deliver_forever, args=(app,), kwargs={"interval": 0.05, "stop": stop}
    )
    loop.start()
    try:
        _queue(app)
        deadline = time.monotonic() + 10
        while not smtp.messages and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join(timeout=10)
    assert not loop.is_alive()
    assert len(smtp.messages) == 1


def test_housekeeping_keeps_pending_mail_and_drops_what_is_done(app, demo, smtp):  # noqa: F811
    sent = _queue(app)
    smtp.deliver()
    with app.app_context():
        recovery.request_password_reset(ALEX)  # a link, and a mail left pending
        db.session.commit()
    month_later = utcnow() + timedelta(days=31)
    assert housekeeping(app, month_later) == (1, 1)
    with app.app_context():
        left = db.session.scalars(select(OutboxMail)).all()
        assert [m.kind for m in left] == ["password_reset"] and left[0].id != sent
        assert db.session.scalar(select(AccountToken.id)) is None
    assert housekeeping(app, utcnow()) == (0, 0)


@pytest.fixture()
def production_env(monkeypatch):
    for name, value in {
        "SECRET_KEY": "k" * 32,
        "AUDIT_KEY": "a" * 32,
        "DATABASE_URL": "postgresql://u@localhost/db",
        "MAIL_SERVER": "smtp.example.org",
        "PUBLIC_URL": "https://portal.example.org/",
    }.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_production_starts_with_mail_settings(production_env, tmp_path):
    cfg = config.load(tmp_path, {"PORTAL_ENV": "production"})
    assert cfg["MAIL_SERVER"] == "smtp.example.org" and cfg["MAIL_PORT"] == 25
    assert cfg["PUBLIC_URL"] == "https://portal.example.org"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MAIL_SERVER", "", "MAIL_SERVER"),
        ("PUBLIC_URL", "", "PUBLIC_URL"),
        ("PUBLIC_URL", "portal.example.org", "PUBLIC_URL"),
        ("SECRET_KEY", "k" * 31, "at least 32 bytes"),
    ],
)
def test_production_refuses_to_start_without(production_env, tmp_path, name, value, message):
    production_env.setenv(name, value)
    with pytest.raises(config.ConfigError, match=message):
        config.load(tmp_path, {"PORTAL_ENV": "production"})


def test_ssl_and_starttls_together_are_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("MAIL_USE_SSL", "1")
    monkeypatch.setenv("MAIL_USE_TLS", "1")
    with pytest.raises(config.ConfigError, match="MAIL_USE_SSL"):
        config.load(tmp_path, {"PORTAL_ENV": "development"})


def test_mail_templates_run_no_script():
    """Mail HTML keeps inline styles (mail clients drop stylesheets) but never script."""
    folder = ROOT / "templates" / "mail"
    for template in folder.glob("*.html"):
        html = template.read_text("utf-8")
        assert "<script" not in html and not re.search(r"\son[a-z]+=", html), template
