"""Configuration, the health check and the command line."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal import config
from portal.auth.models import User, UserKind
from portal.extensions import db
from portal.patients import Patient


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_production_refuses_to_start_without_secret_key(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@localhost/db")
    with pytest.raises(config.ConfigError, match="SECRET_KEY"):
        config.load(tmp_path, {"PORTAL_ENV": "production"})
    assert not (tmp_path / "dev-secret-key").exists()


def test_production_refuses_sqlite(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(config.ConfigError, match="PostgreSQL"):
        config.load(tmp_path, {"PORTAL_ENV": "production"})


def test_development_generates_a_key_once(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = config.load(tmp_path, {"PORTAL_ENV": "development"})["SECRET_KEY"]
    second = config.load(tmp_path, {"PORTAL_ENV": "development"})["SECRET_KEY"]
    assert first == second and len(first) >= 32
    assert (tmp_path / "dev-secret-key").stat().st_mode & 0o777 == 0o600


def test_unknown_environment_is_refused(tmp_path):
    with pytest.raises(config.ConfigError, match="PORTAL_ENV"):
        config.load(tmp_path, {"PORTAL_ENV": "staging"})


def test_bad_number_setting_is_explained(monkeypatch, tmp_path):
    monkeypatch.setenv("SESSION_IDLE_MINUTES", "half an hour")
    with pytest.raises(config.ConfigError, match="SESSION_IDLE_MINUTES"):
        config.load(tmp_path, {"PORTAL_ENV": "development"})


def test_security_headers_on_every_page(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "'unsafe-inline'" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_cli_creates_clinician_and_patient(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "users",
            "create-clinician",
            "--email",
            "New.Doc@Example.com",
            "--name",
            "Dr. New Doc",
            "--discipline",
            "primary_care",
            "--title",
            "GP",
            "--password",
            "a-long-password-1",
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        args=[
            "users",
            "create-patient",
            "--email",
            "pat2@example.com",
            "--given-name",
            "Pat",
            "--family-name",
            "Two",
            "--birth-date",
            "1980-01-02",
            "--password",
            "a-long-password-2",
        ],
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        doc = db.session.scalar(select(User).where(User.email == "new.doc@example.com"))
        assert doc.kind is UserKind.CLINICIAN and doc.job_title == "GP"
        patient = db.session.scalar(select(Patient).where(Patient.family_name == "Two"))
        assert patient.user_id is not None
    duplicate = runner.invoke(
        args=[
            "users",
            "create-clinician",
            "--email",
            "new.doc@example.com",
            "--name",
            "X",
            "--discipline",
            "primary_care",
            "--password",
            "a-long-password-1",
        ],
    )
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output
    short = runner.invoke(
        args=[
            "users",
            "create-clinician",
            "--email",
            "b@example.com",
            "--name",
            "X",
            "--discipline",
            "primary_care",
            "--password",
            "short",
        ],
    )
    assert short.exit_code != 0 and "12 characters" in short.output


def test_seed_demo_twice_does_no_harm(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "alex@example.com" in first.output and "demo-password-2026" in first.output
    listed = [line.split()[0] for line in first.output.splitlines() if "@example.com" in line]
    assert listed == sorted(
        listed, key=["patient", "clinician", "caregiver", "admin"].index
    )  # patients first
    with app.app_context():
        counts = (
            db.session.scalar(select(func.count()).select_from(User)),
            db.session.scalar(select(func.count()).select_from(Patient)),
        )
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0
    if_empty = runner.invoke(args=["seed-demo", "--if-empty"])
    assert "left as it is" in if_empty.output
    with app.app_context():
        assert counts == (
            db.session.scalar(select(func.count()).select_from(User)),
            db.session.scalar(select(func.count()).select_from(Patient)),
        )


def test_database_errors_never_carry_the_values(app_ctx):
    """A failed statement's error (and so the log) names no patient data."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    secret = "Walked with my grandkids"
    with pytest.raises(DBAPIError) as failure:
        db.session.execute(text("SELECT * FROM no_such_table WHERE note = :note"), {"note": secret})
    db.session.rollback()
    assert secret not in str(failure.value)
    assert "hidden due to hide_parameters" in str(failure.value)
