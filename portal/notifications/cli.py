"""`flask --app wsgi notify ...`: deliver the outbox, show the VAPID public key."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.audit import listed
from portal.cli_loop import stop_on_signals
from portal.extensions import db
from portal.notifications import vapid
from portal.notifications.reminders import enqueue_due_reminders


@click.group(help="Push notifications.")
def notify() -> None:
    pass


@notify.command("deliver")
@click.option("--loop", is_flag=True, help="Keep draining the outbox until stopped.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds to wait when nothing is due (with --loop).",
)
@with_appcontext
def deliver(loop: bool, interval: float) -> None:
    """Send due notifications once (and enqueue due daily reminders); --loop keeps going."""
    # Only the deliverer needs pywebpush and requests: web workers never load them.
    from portal.notifications.delivery import Deliverer, deliver_forever

    app = current_app._get_current_object()
    if loop:
        stop = stop_on_signals()
        click.echo(f"Delivering notifications every {interval:g}s; Ctrl-C stops.")
        deliver_forever(
            app, interval=interval, stop=stop, on_pass=lambda _stats: index_audit_lists(app)
        )
        return
    reminders = enqueue_due_reminders()
    db.session.commit()
    with Deliverer(app) as deliverer:
        stats = deliverer.run_once()
    click.echo(
        f"Delivered {stats.sent} of {stats.claimed} due notifications "
        f"({stats.messages} messages; {stats.retried} to retry, {stats.failed} failed, "
        f"{stats.held} held for quiet hours, {stats.muted} muted, {stats.no_device} without "
        f"a device, {stats.removed_devices} expired devices removed; "
        f"{reminders} reminders enqueued)."
    )


def index_audit_lists(app) -> None:
    """Housekeeping on every pass: the audit trail's list events into the access log's index."""
    with app.app_context():
        listed.index_all(db.session)
        db.session.remove()


@notify.command("vapid-keys")
@click.option(
    "--new",
    "new",
    is_flag=True,
    help="Print a new private key for VAPID_PRIVATE_KEY (and its public key); store nothing.",
)
@with_appcontext
def vapid_keys(new: bool) -> None:
    """Print the VAPID public key (generating the key pair into instance/ the first time)."""
    if new:
        private = vapid.new_private_key()
        click.echo(f"VAPID_PRIVATE_KEY={private}")
        click.echo(f"public key: {vapid.public_key_of(vapid.load_key(private))}")
        return
    try:
        click.echo(vapid.public_key(current_app._get_current_object()))
    except vapid.VapidError as error:
        raise click.ClickException(str(error)) from error
