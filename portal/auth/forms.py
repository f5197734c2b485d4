"""Sign-in, password reset and account forms."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length, ValidationError

from portal.auth import passwords


class LoginForm(FlaskForm):
    email = EmailField(
        "Email address",
        validators=[
            DataRequired("Enter your email address"),
            Email("Enter an email address like name@example.com"),
            Length(max=254),
        ],
        render_kw={"autocomplete": "username", "spellcheck": "false", "autocapitalize": "none"},
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired("Enter your password"), Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )


def _email_field(label: str = "Email address", **render_kw) -> EmailField:
    return EmailField(
        label,
        validators=[
            DataRequired("Enter your email address"),
            Email("Enter an email address like name@example.com"),
            Length(max=254, message="Enter an email address of 254 characters or fewer"),
        ],
        render_kw={"spellcheck": "false", "autocapitalize": "none", **render_kw},
    )


class NewPassword:
    """The password rules (portal/auth/passwords.py), checked against the form's account email."""

    def __call__(self, form, field) -> None:
        message = passwords.problem(field.data or "", getattr(form, "account_email", None))
        if message is not None:
            raise ValidationError(message)


def _new_password_field(label: str = "New password") -> PasswordField:
    return PasswordField(
        label,
        validators=[DataRequired("Enter a new password"), NewPassword()],
        description=(
            f"At least {passwords.MIN_LENGTH} characters. A few words in a row, "
            "with spaces if you like, are long and easy to remember."
        ),
        render_kw={"autocomplete": "new-password"},
    )


def _current_password_field() -> PasswordField:
    return PasswordField(
        "Your current password",
        validators=[DataRequired("Enter your current password"), Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )


class ForgotPasswordForm(FlaskForm):
    email = _email_field(autocomplete="username")


class ResetPasswordForm(FlaskForm):
    password = _new_password_field()
    account_email: str | None = None


class ChangePasswordForm(FlaskForm):
    current_password = _current_password_field()
    password = _new_password_field()
    account_email: str | None = None


class ChangeEmailForm(FlaskForm):
    email = _email_field("New email address", autocomplete="email")
    current_password = _current_password_field()


class ConfirmForm(FlaskForm):
    """A button and its CSRF token."""


class CodeForm(FlaskForm):
    """The second step of sign-in: the field is named `code` (a contract in DESIGN.md)."""

    code = StringField(
        "Code",
        validators=[
            DataRequired("Enter the code"),
            Length(max=20, message="That code is too long"),
        ],
        render_kw={
            "autocomplete": "one-time-code",
            "spellcheck": "false",
            "autocapitalize": "none",
        },
    )


class CurrentPasswordForm(FlaskForm):
    current_password = _current_password_field()
