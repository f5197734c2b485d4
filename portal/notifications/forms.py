"""The notification settings form: categories for this kind of user, quiet hours, reminder."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms.validators import Optional

from portal.auth.models import User, UserKind
from portal.forms import Time
from portal.notifications import kinds
from portal.notifications.models import NotificationPreference

TIME_HINT = "Enter a time like 21:30"


class _Base(FlaskForm):
    # type="time": the phone offers its own time picker.
    quiet_start = Time("From", validators=[Optional()])
    quiet_end = Time("Until", validators=[Optional()])

    category_fields: list[tuple[str, kinds.Category]] = []

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        for f in (self.quiet_start, self.quiet_end, getattr(self, "reminder_time", None)):
            if f is not None and f.errors:
                f.errors[:] = [f"{TIME_HINT}, or leave it empty."]
        start, end = self.quiet_start.data, self.quiet_end.data
        if not self.quiet_start.errors and not self.quiet_end.errors:
            if start is not None and end is None:
                self.quiet_end.errors.append("Enter when quiet hours end, like 07:00.")
                ok = False
            elif end is not None and start is None:
                self.quiet_start.errors.append("Enter when quiet hours start, like 21:30.")
                ok = False
            elif start is not None and start == end:
                self.quiet_end.errors.append("Quiet hours must end at a different time.")
                ok = False
        return ok

    def enabled(self) -> list[str]:
        return [c.name for name, c in self.category_fields if getattr(self, name).data]


def settings_form(user: User, pref: NotificationPreference, formdata=None) -> _Base:
    """A form offering the categories that concern this kind of user."""
    offered = kinds.categories_for(user.kind)

    class SettingsForm(_Base):
        pass

    fields = []
    for category in offered:
        name = f"category_{category.name}"
        setattr(
            SettingsForm,
            name,
            BooleanField(category.label, description=category.hint),
        )
        fields.append((name, category))
    SettingsForm.category_fields = fields
    if user.kind is UserKind.PATIENT:
        SettingsForm.reminder_time = Time(  # type: ignore[attr-defined]
            "Daily reminder time",
            validators=[Optional()],
            description="Leave it empty for no daily reminder.",
        )
    data = {name: not pref.is_muted(c.name) for name, c in fields}
    data.update(quiet_start=pref.quiet_start, quiet_end=pref.quiet_end)
    if user.kind is UserKind.PATIENT:
        data["reminder_time"] = pref.reminder_time
    return SettingsForm(formdata=formdata, data=data)
