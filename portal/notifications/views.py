"""Notification settings: categories, quiet hours, the daily reminder, and devices."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from portal.notifications import preferences, services, vapid
from portal.notifications.forms import settings_form

bp = Blueprint("notifications", __name__, url_prefix="/settings/notifications")


@bp.route("", methods=["GET", "POST"])
@login_required
def settings():
    user = current_user._get_current_object()
    pref = preferences.preferences(user.id)
    form = settings_form(user, pref, request.form if request.method == "POST" else None)
    if request.method == "POST" and form.validate_on_submit():
        preferences.save_preferences(
            user,
            enabled=form.enabled(),
            quiet_start=form.quiet_start.data,
            quiet_end=form.quiet_end.data,
            reminder_time=getattr(form, "reminder_time", None) and form.reminder_time.data,
        )
        flash("Your notification settings are saved.", "success")
        return redirect(url_for("notifications.settings"))
    status = 422 if request.method == "POST" else 200
    return (
        render_template(
            "notifications/settings.html",
            form=form,
            devices=services.devices(user.id),
            vapid_public_key=vapid.public_key(),
            timezone=user.timezone,
        ),
        status,
    )


@bp.post("/devices/<int:subscription_id>/remove")
@login_required
def remove_device(subscription_id: int):
    if not services.unsubscribe(current_user.id, subscription_id):
        abort(404)
    flash("That device will not get notifications any more.", "success")
    return redirect(url_for("notifications.settings"))
