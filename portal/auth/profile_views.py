"""/account/profile: everyone's name and time zone."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms.validators import ValidationError

from portal.auth import profile
from portal.auth.models import UserKind
from portal.enrolment.forms import name_field
from portal.forms import Select

bp = Blueprint("profile", __name__, url_prefix="/account/profile")


class ProfileForm(FlaskForm):
    name = name_field("Name", max_length=120)
    timezone = Select(
        "Time zone",
        description="Times in CareCircle are shown in this time zone.",
        validate_choice=False,
    )

    def validate_timezone(self, field) -> None:
        if not profile.valid_zone(field.data or ""):
            raise ValidationError("Choose your time zone from the list")


@bp.route("", methods=["GET", "POST"])
@login_required
def edit():
    form = ProfileForm(
        data=None
        if request.method == "POST"
        else {"name": current_user.name, "timezone": current_user.timezone}
    )
    form.timezone.choices = profile.zone_choices()
    if form.validate_on_submit():
        profile.update_profile(current_user.id, form.name.data, form.timezone.data)
        flash("Your details are saved.", "success")
        return redirect(url_for("profile.edit"))
    status = 422 if request.method == "POST" else 200
    is_patient = current_user.kind is UserKind.PATIENT
    return render_template("account/profile.html", form=form, is_patient=is_patient), status
