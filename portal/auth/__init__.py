"""Accounts, password sign-in and server-side sessions."""

from flask import jsonify, redirect, request, session, url_for

from portal.auth.services import SignedInUser, check_session
from portal.extensions import login_manager


@login_manager.user_loader
def load_user(user_id: str) -> SignedInUser | None:
    """Flask-Login's loader: only a live server-side session yields a user."""
    from portal.auth.views import SESSION_TOKEN_KEY

    token = session.get(SESSION_TOKEN_KEY)
    if not token:
        return None
    result = check_session(token, user_id)
    if result.expired:
        session.clear()
    return result.user


@login_manager.unauthorized_handler
def unauthorized():
    """The API answers 401 JSON; pages send the visitor to sign in and back."""
    if request.path.startswith("/api/"):
        return jsonify(error="Sign in first."), 401
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
