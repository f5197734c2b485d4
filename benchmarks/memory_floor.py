"""The memory floor of a web worker (bench only; `benchmarks/memory.py`).

What any Flask app that signs people in and keeps its data in SQL needs, and
nothing of the portal: Flask, Flask-SQLAlchemy (SQLAlchemy's ORM), Flask-Login,
Flask-WTF's CSRF check, and the database driver the URL names (psycopg for
PostgreSQL). One route runs one query. Served by gunicorn like the portal, its
worker's resident memory is what the portal's own code and libraries add to.
"""

from __future__ import annotations

import os

from flask import Flask
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import text

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY", "floor")
db = SQLAlchemy(app)
LoginManager(app)
CSRFProtect(app)


@app.route("/")
def index() -> dict[str, int]:
    return {"one": db.session.execute(text("SELECT 1")).scalar_one()}
