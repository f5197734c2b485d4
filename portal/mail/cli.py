"""`flask --app wsgi mail deliver [--loop]`: send the mail outbox."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.cli_loop import stop_on_signals


@click.group(help="Outgoing mail.")
def mail() -> None:
    pass


@mail.command("deliver")
@click.option("--loop", is_flag=True, help="Keep sending the outbox until stopped.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds to wait when nothing is due (with --loop).",
)
@with_appcontext
def deliver(loop: bool, interval: float) -> None:
    """Send due mails once; --loop keeps going. Without MAIL_SERVER, mails are printed here."""
    from portal.mail.delivery import MailDeliverer, deliver_forever

    app = current_app._get_current_object()
    where = app.config["MAIL_SERVER"] or "this console (no MAIL_SERVER set)"
    if loop:
        stop = stop_on_signals()
        click.echo(f"Delivering mail to {where} every {interval:g}s; Ctrl-C stops.")
        deliver_forever(app, interval=interval, stop=stop)
        return
    stats = MailDeliverer(app).run_once()
    click.echo(
        f"Sent {stats.sent} of {stats.claimed} due mails to {where} "
        f"({stats.retried} to retry, {stats.failed} given up)."
    )
