"""Extension singletons, bound to the app in create_app()."""

from authlib.integrations.flask_client import OAuth
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from portal.db import Base

db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()
oauth = OAuth()  # clinician SSO (OIDC) registers its provider here when configured
