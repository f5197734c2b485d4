"""The account page: password rules, changing the password and the email address.

Mails are read from a real SMTP server (tests/mailbox.py).
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal.auth import passwords
from portal.auth.models import User, UserKind
from portal.auth.services import create_user
from portal.auth.tokens import AccountToken
from portal.extensions import db
from tests.conftest import DEMO_PASSWORD, text_of
from tests.mailbox import smtp  # noqa: F401  (the fixture)

ALEX = "alex@example.com"
NEW_EMAIL = "alex.morgan@example.org"
NEW_PASSWORD = "tea with milk and two sugars"
CONFIRM = re.compile(r"http://localhost(/account/email/confirm/[A-Za-z0-9_-]+)")


# -- the rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",  # spaces
        "мой пароль очень длинный",  # any script
        "🌊🌊 surf at dawn 🌅🏄",  # emoji
        "x" * 11 + "🐢",  # 12 code points
        "a" + "b" * 126 + "c",  # 128 code points
    ],
)
def test_long_passphrases_and_any_characters_are_welcome(password):
    assert passwords.problem(password) is None


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("eleven char", passwords.TOO_SHORT),
        ("🐢" * 11, passwords.TOO_SHORT),
        ("ﬁﬁﬁﬁﬁ", passwords.TOO_SHORT),  # ligatures are counted as the letters they are
        ("a" * 129, passwords.TOO_LONG),
        ("password1234", passwords.TOO_COMMON),
        ("Password 1234", passwords.TOO_COMMON),  # case and spaces do not hide it
        ("qwertyuiop[]", passwords.TOO_COMMON),
        ("zzzzzzzzzzzzzzzz", passwords.TOO_COMMON),
        ("Alex@Example.com", passwords.IS_EMAIL),
    ],
)
def test_short_long_common_and_own_email_passwords_are_refused(password, message):
    assert passwords.problem(password, email=ALEX) == message


def test_the_shipped_list_is_there_and_lowercase():
    common = passwords.common_passwords()
    assert len(common) > 19_000
    assert {"123456", "password", "iloveyou"} <= common
    assert all(p == p.lower() for p in common)


def test_nfkc_makes_the_same_password_sign_in_however_it_is_typed(demo, app):
    composed, decomposed = "café au lait every morning", "cafe\u0301 au lait every morning"
    with app.app_context():
        create_user("robin@example.com", composed, "Robin", UserKind.CAREGIVER)
        db.session.commit()
    assert demo.login("robin@example.com", decomposed).get("/welcome").status_code == 200


def test_create_user_and_the_cli_apply_the_rules(demo, app):
    with app.app_context(), pytest.raises(ValueError, match="too common"):
        create_user("new.clinician@example.com", "password1234", "Kim", UserKind.CAREGIVER)
    result = app.test_cli_runner().invoke(
        args=[
            "users",
            "create-clinician",
            "--email=new.clinician@example.com",
            "--name=Kim",
            "--discipline=nursing",
            "--password=too short",
        ]
    )
    assert result.exit_code != 0 and "at least 12 characters" in result.output
    with app.app_context():
        assert (
            db.session.scalar(select(User.id).where(User.email == "new.clinician@example.com"))
            is None
        )


# -- the account page -----------------------------------------------------------------------------


def test_the_header_settings_link_opens_the_account_page(demo):
    alex = demo.login(ALEX)
    home = alex.get(f"/p/{demo.alex}/").get_data(as_text=True)
    assert 'href="/account"' in home
    page = alex.get("/account")
    assert page.status_code == 200
    text = text_of(page)
    assert ALEX in text and "Change your password" in text and "Change your email address" in text
    assert 'href="/settings/notifications"' in page.get_data(as_text=True)


def test_changing_the_password_signs_out_the_other_devices(demo, smtp):  # noqa: F811
    laptop, phone = demo.login(ALEX), demo.login(ALEX)
    wrong = laptop.submit(
        "/account/password", {"current_password": "not my password", "password": NEW_PASSWORD}
    )
    assert wrong.status_code == 422 and "current password is not right" in text_of(wrong)
    weak = laptop.submit(
        "/account/password", {"current_password": DEMO_PASSWORD, "password": "qwerty123456"}
    )
    assert weak.status_code == 422 and "too common" in text_of(weak)
    done = laptop.submit(
        "/account/password", {"current_password": DEMO_PASSWORD, "password": NEW_PASSWORD}
    )
    assert done.status_code == 302
    assert "Your password is changed" in text_of(laptop.get("/account"))  # still signed in here
    assert phone.get("/account").status_code == 302  # signed out there
    mail = smtp.one_to(ALEX)
    assert mail.message["Subject"] == "Your CareCircle password was changed"
    assert demo.login(ALEX, NEW_PASSWORD)
    old = demo.app.test_client().submit("/login", {"email": ALEX, "password": DEMO_PASSWORD})
    assert old.status_code == 422


def test_changing_the_email_takes_effect_on_confirmation(demo, smtp):  # noqa: F811
    alex = demo.login(ALEX)
    asked = alex.submit("/account/email", {"email": NEW_EMAIL, "current_password": DEMO_PASSWORD})
    assert asked.status_code == 302
    page = text_of(alex.get("/account"))
    assert f"We have sent a link to {NEW_EMAIL}" in page and f"You sign in with {ALEX}" in page

    mail = smtp.one_to(NEW_EMAIL)
    assert mail.message["Subject"] == "Confirm your new email address for CareCircle"
    path = CONFIRM.search(mail.text).group(1)
    assert f"http://localhost{path}" in mail.html
    # Until confirmed, nothing changed: opening the link only shows a button.
    assert demo.login(ALEX)
    shown = demo.app.test_client().get(path)
    assert shown.status_code == 200 and NEW_EMAIL in text_of(shown)
    assert demo.login(ALEX)

    stranger = demo.app.test_client()  # the link works on any device
    confirmed = stranger.submit(path)
    assert confirmed.status_code == 302
    assert stranger.submit(path).status_code == 410  # once
    assert demo.login(NEW_EMAIL).get(f"/p/{demo.alex}/plan").status_code == 200
    told = smtp.one_to(ALEX)
    assert told.message["Subject"] == "Your CareCircle email address was changed"
    assert "a***@example.org" in told.text and NEW_EMAIL not in told.text


def test_an_address_that_has_an_account_is_told_and_nothing_changes(demo, smtp):  # noqa: F811
    alex = demo.login(ALEX)
    asked = alex.submit(
        "/account/email", {"email": "Blake@Example.com", "current_password": DEMO_PASSWORD}
    )
    assert asked.status_code == 302
    mail = smtp.one_to("blake@example.com")
    assert mail.message["Subject"] == "Someone tried to use this email address on CareCircle"
    assert CONFIRM.search(mail.text) is None
    with demo.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AccountToken)) == 0


def test_the_email_change_needs_the_current_password(demo, smtp):  # noqa: F811
    alex = demo.login(ALEX)
    wrong = alex.submit("/account/email", {"email": NEW_EMAIL, "current_password": "nope nope"})
    assert wrong.status_code == 422 and "current password is not right" in text_of(wrong)
    same = alex.submit("/account/email", {"email": ALEX, "current_password": DEMO_PASSWORD})
    assert same.status_code == 422 and "already your email address" in text_of(same)
    assert smtp.deliver().claimed == 0


def test_guessing_the_current_password_is_throttled(demo, app):
    alex = demo.login(ALEX)
    for _ in range(app.config["LOGIN_SLOW_AFTER"]):
        alex.submit(
            "/account/password", {"current_password": "guess guess", "password": NEW_PASSWORD}
        )
    refused = alex.submit(
        "/account/password", {"current_password": DEMO_PASSWORD, "password": NEW_PASSWORD}
    )
    assert refused.status_code == 429 and "try again in" in text_of(refused)


def test_account_forms_need_the_csrf_token(demo):
    alex = demo.login(ALEX)
    response = alex.post(
        "/account/password", data={"current_password": DEMO_PASSWORD, "password": NEW_PASSWORD}
    )
    assert response.status_code == 400
    assert alex.post("/account/email", data={"email": NEW_EMAIL}).status_code == 400


# -- production ---------------------------------------------------------------------------------


def test_seed_demo_refuses_to_run_in_production(app):
    app.config["PORTAL_ENV"] = "production"
    try:
        result = app.test_cli_runner().invoke(args=["seed-demo"])
    finally:
        app.config["PORTAL_ENV"] = "test"
    assert result.exit_code == 1
    assert "refuses to run in production" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_no_mail_carries_health_information(demo, smtp):  # noqa: F811
    """Every account mail, read from the server, holds no goal, concern or discipline."""
    from portal.auth.models import DISCIPLINE_LABELS
    from portal.careplan.models import Activity, Concern
    from portal.goals.models import Goal

    alex = demo.login(ALEX)
    alex.submit("/account/email", {"email": NEW_EMAIL, "current_password": DEMO_PASSWORD})
    alex.submit("/account/email", {"email": "blake@example.com", "current_password": DEMO_PASSWORD})
    demo.app.test_client().submit(CONFIRM.search(smtp.one_to(NEW_EMAIL).text).group(1))
    alex.submit("/account/password", {"current_password": DEMO_PASSWORD, "password": NEW_PASSWORD})
    demo.app.test_client().submit("/forgot-password", {"email": NEW_EMAIL})
    smtp.deliver()
    kinds = {m.message["Subject"] for m in smtp.messages}
    assert len(kinds) == 5, kinds  # confirm, in use, changed email, changed password, reset
    with demo.app.app_context():
        words = set(DISCIPLINE_LABELS.values())
        for model in (Goal, Concern, Activity):
            words |= set(db.session.scalars(select(model.title)))
    for mail in smtp.messages:
        body = (mail.text + mail.html).lower()
        leaked = [w for w in words if w.lower() in body]
        assert not leaked, (mail.message["Subject"], leaked)
