"""Flask commands: accounts and the demo clinic."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import case, func, select

from portal.audit import record_event
from portal.audit.cli import audit
from portal.auth.models import Discipline, User, UserKind
from portal.auth.services import create_user
from portal.caregivers.reminders import caregivers
from portal.extensions import db
from portal.mail.cli import mail
from portal.notifications.cli import notify
from portal.patients import Patient


def register(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(seed_demo)
    app.cli.add_command(notify)
    app.cli.add_command(mail)
    app.cli.add_command(audit)
    app.cli.add_command(caregivers)


users = AppGroup("users", help="Manage accounts.")


def _password_option(f):
    return click.option(
        "--password",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help="At least 12 characters, not a common one (prompted when omitted).",
    )(f)


@users.command("create-clinician")
@click.option("--email", required=True)
@click.option("--name", required=True, help='How patients see them, e.g. "Dr. Riley Rivera".')
@click.option(
    "--discipline",
    type=click.Choice([d.value for d in Discipline]),
    required=True,
)
@click.option("--title", "job_title", default=None, help='e.g. "Primary care physician".')
@_password_option
def create_clinician(email, name, discipline, job_title, password) -> None:
    """Create a clinician account."""
    try:
        user = create_user(
            email,
            password,
            name,
            UserKind.CLINICIAN,
            discipline=Discipline(discipline),
            job_title=job_title,
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(f"Created clinician {user.email} (id {user.id}).")


def _checked_email(email: str) -> str:
    """The address as stored, or a ClickException saying what is wrong with it."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise click.ClickException(f"{email!r} is not an email address: {error}") from error


@users.command("create-admin")
@click.option("--email", prompt=True, help="The address the administrator signs in with.")
@click.option("--name", prompt=True, help='e.g. "Robin Hale".')
@_password_option
def create_admin(email, name, password) -> None:
    """Create an administrator: manages accounts and enrols patients, sees no health records."""
    name = name.strip()
    if not name or len(name) > 120:
        raise click.ClickException("the name must be 1 to 120 characters")
    try:
        user = create_user(_checked_email(email), password, name, UserKind.ADMIN)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    # A privilege given: in the sealed trail, by nobody signed in (the command line).
    record_event(None, "admin_created", "account", user.id, relation="command_line")
    db.session.commit()
    click.echo(f"Created administrator {user.email} (id {user.id}).")


@users.command("create-patient")
@click.option("--email", required=True)
@click.option("--given-name", required=True)
@click.option("--family-name", required=True)
@click.option("--birth-date", type=click.DateTime(formats=["%Y-%m-%d"]), default=None)
@click.option(
    "--patient-id", type=int, default=None, help="Link an existing patient record instead."
)
@_password_option
def create_patient(email, given_name, family_name, birth_date, patient_id, password) -> None:
    """Create a patient account linked to their patient record (new or existing)."""
    try:
        user = create_user(email, password, f"{given_name} {family_name}", UserKind.PATIENT)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    if patient_id is not None:
        patient = db.session.get(Patient, patient_id)
        if patient is None:
            raise click.ClickException(f"no patient record {patient_id}")
        if patient.user_id is not None:
            raise click.ClickException("that patient record already has an account")
    else:
        patient = Patient(
            given_name=given_name,
            family_name=family_name,
            birth_date=birth_date.date() if birth_date else None,
        )
        db.session.add(patient)
    patient.user_id = user.id
    db.session.commit()
    click.echo(f"Created patient account {user.email} for patient record {patient.id}.")


@click.command("seed-demo")
@with_appcontext
@click.option("--if-empty", is_flag=True, help="Do nothing when accounts already exist.")
def seed_demo(if_empty: bool) -> None:
    """Fill an empty database with the demo clinic and print the accounts."""
    if current_app.config["PORTAL_ENV"] == "production":
        # The demo accounts share one published password: never on real patients' server.
        raise click.ClickException(
            "seed-demo refuses to run in production (PORTAL_ENV=production): "
            "its accounts share a password that anyone can read in the README."
        )
    from portal.demo import DEMO_PASSWORD, seed

    if if_empty and db.session.scalar(select(func.count()).select_from(User)):
        click.echo("The database already has accounts; demo data left as it is.")
    else:
        created = seed()
        db.session.commit()
        click.echo(f"Demo clinic ready ({created} new accounts).")
    click.echo(f"\nDemo accounts (password for all: {DEMO_PASSWORD}):")
    first = case((User.kind == UserKind.PATIENT, 0), (User.kind == UserKind.CLINICIAN, 1), else_=2)
    for user in db.session.scalars(select(User).order_by(first, User.id)):
        click.echo(f"  {user.kind.value:<10} {user.email:<22} {user.name}")
