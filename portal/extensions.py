"""Extension singletons, bound to the app in create_app()."""

from __future__ import annotations

from typing import Any

from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from portal.db import Base
from portal.transaction import RequestSession

# In a request the session joins the request's own transaction (portal/transaction.py).
db = SQLAlchemy(
    model_class=Base,
    session_options={"class_": RequestSession, "join_transaction_mode": "control_fully"},
)
login_manager = LoginManager()
csrf = CSRFProtect()


def __getattr__(name: str) -> Any:
    """`oauth`, Authlib's registry for clinician SSO (OIDC), made on first use.

    Authlib brings requests, urllib3 and joserfc: 8 MiB in every web worker,
    and no request uses it until a provider is configured. The SSO sign-in
    imports `oauth` from here, registers its provider and binds it to the app
    with `oauth.init_app(app)`, as with the other extensions.
    """
    if name == "oauth":
        from authlib.integrations.flask_client import OAuth

        globals()["oauth"] = registry = OAuth()
        return registry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
